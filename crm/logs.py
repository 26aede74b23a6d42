"""Logging filter that keeps secrets out of log lines."""

import logging
import re

# access_token=..., "secret": "...", EncodingAESKey, API keys: whatever their spelling.
_SECRET_PATTERN = re.compile(
    r"(?i)((?:access_token|refresh_token|secret|appsecret|app_secret|api_key|apikey|"
    r"encoding_?aes_?key|aes_key|token|password|paysign|sign)[\"']?\s*[=:]\s*[\"']?)"
    r"([^\"'&\s,}]+)"
)


def redact(text: str) -> str:
    return _SECRET_PATTERN.sub(lambda m: m.group(1) + "***", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True
