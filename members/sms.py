"""SMS verification codes: `send_code(phone, code)` through the provider `SMS_PROVIDER` names.

Providers:
- `tencent`: Tencent Cloud SMS, action `SendSms` of API version 2021-01-11 on
  `TENCENT_SMS_API_BASE` (https://sms.tencentcloudapi.com), signed with TC3-HMAC-SHA256 as
  Tencent's "signature v3" documentation gives it. The local sandboxes
  (`devtools/sandboxes/sms.py`) speak the same API, so the demo and the tests use this provider.
- `sandbox`: no HTTP at all; the code is kept in the cache (`sandbox_outbox(phone)`), for a
  checkout that runs with no services.

This module only speaks HTTP (and signs): it writes nothing. A refusal by the provider raises
SmsError carrying a message for the person (Chinese through gettext) and whether trying again
may help; `send_code` retries only retryable errors.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
REGION = "ap-guangzhou"
CONTENT_TYPE = "application/json; charset=utf-8"
ATTEMPTS = 3  # one send and at most two retries of a retryable error


class SmsError(Exception):
    """The code was not sent. `code`: the provider's error code; `message`: for the person;
    `retryable`: whether the same request may succeed later."""

    def __init__(self, code: str, message, retryable: bool):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.retryable = code, str(message), retryable


# Tencent's error codes (exact, or a prefix ending in ".") -> (message for the person, retryable).
# The first match wins, so exact codes come before their family's prefix.
ERRORS: list[tuple[str, object, bool]] = [
    (
        "LimitExceeded.PhoneNumberDailyLimit",
        _("This number has received too many codes today. Please try again tomorrow."),
        False,
    ),
    (
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        _("Codes were sent to this number too often. Please wait a minute and try again."),
        False,
    ),
    (
        "LimitExceeded.PhoneNumberOneHourLimit",
        _("Codes were sent to this number too often. Please try again in an hour."),
        False,
    ),
    ("LimitExceeded.", _("Too many codes were sent. Please try again later."), False),
    (
        "InvalidParameterValue.IncorrectPhoneNumber",
        _("Enter a valid mobile number, such as 13800138000 or +8613800138000."),
        False,
    ),
    (
        "FailedOperation.PhoneNumberInBlacklist",
        _("This number has refused text messages from us, so no code can be sent."),
        False,
    ),
    ("FailedOperation.", _("The text message service refused to send the code."), False),
    ("InvalidParameterValue.", _("The text message service refused to send the code."), False),
    ("InvalidParameter.", _("The text message service refused to send the code."), False),
    ("AuthFailure.", _("The text message service is not configured correctly."), False),
    ("UnauthorizedOperation.", _("The text message service is not configured correctly."), False),
    ("InternalError.", _("The text message service is busy. Please try again."), True),
    ("RequestLimitExceeded", _("The text message service is busy. Please try again."), True),
    ("ServiceUnavailable", _("The text message service is busy. Please try again."), True),
    ("NETWORK", _("The text message service could not be reached. Please try again."), True),
]
UNKNOWN = (_("The code could not be sent. Please try again later."), False)


def error_for(code: str) -> SmsError:
    """The SmsError for one of Tencent's error codes (an unknown code: not retryable)."""
    for key, message, retryable in ERRORS:
        if code == key or (key.endswith(".") and code.startswith(key)):
            return SmsError(code, message, retryable)
    return SmsError(code, *UNKNOWN)


# -- TC3-HMAC-SHA256 --------------------------------------------------------------------------


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(
    *, secret_key: str, service: str, host: str, timestamp: int, payload: bytes
) -> tuple[str, str]:
    """(signature hex, credential scope) of a POST to `/` with a JSON body, signing the headers
    content-type and host. Steps as Tencent documents them: the canonical request, the string to
    sign, the key derived from the secret through date, service and "tc3_request"."""
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            "content-type;host",
            _sha256_hex(payload),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, _sha256_hex(canonical_request.encode())]
    )
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), scope


def tc3_authorization(
    *, secret_id: str, secret_key: str, service: str, host: str, timestamp: int, payload: bytes
) -> str:
    """The `Authorization` header of a TC3-HMAC-SHA256 signed request."""
    signature, scope = tc3_signature(
        secret_key=secret_key, service=service, host=host, timestamp=timestamp, payload=payload
    )
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


# -- providers --------------------------------------------------------------------------------


@dataclass
class TencentSms:
    """Tencent Cloud SMS `SendSms` with the TENCENT_SMS_* settings."""

    def send(self, phone: str, code: str) -> str:
        """Send the template with the code as its one parameter; returns Tencent's SerialNo."""
        base = settings.TENCENT_SMS_API_BASE.rstrip("/")
        host = urllib.parse.urlsplit(base).netloc
        number = phone if phone.startswith("+") else f"+86{phone}"
        payload = json.dumps(
            {
                "PhoneNumberSet": [number],
                "SmsSdkAppId": settings.TENCENT_SMS_SDK_APP_ID,
                "SignName": settings.TENCENT_SMS_SIGN_NAME,
                "TemplateId": settings.TENCENT_SMS_TEMPLATE_ID,
                "TemplateParamSet": [code],
            },
            ensure_ascii=False,
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=settings.TENCENT_SMS_SECRET_ID,
                secret_key=settings.TENCENT_SMS_SECRET_KEY,
                service=SERVICE,
                host=host,
                timestamp=timestamp,
                payload=payload,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": REGION,
        }
        request = urllib.request.Request(  # noqa: S310  the base URL comes from settings
            base + "/", data=payload, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310  settings URL
                body = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise error_for("NETWORK") from exc
        answer = body.get("Response", {})
        if "Error" in answer:
            raise error_for(answer["Error"].get("Code", ""))
        statuses = answer.get("SendStatusSet") or [{}]
        status = statuses[0]
        if status.get("Code") != "Ok":
            raise error_for(status.get("Code", ""))
        return status.get("SerialNo", "")


def sandbox_key(phone: str) -> str:
    return f"sms-sandbox:{phone}"


class CacheSandbox:
    """Keeps the last code per phone in the cache for an hour: nothing leaves the machine."""

    def send(self, phone: str, code: str) -> str:
        cache.set(sandbox_key(phone), code, 3600)
        return f"sandbox-{phone}"


def sandbox_outbox(phone: str) -> str | None:
    """The last code the `sandbox` provider 'sent' to this phone."""
    return cache.get(sandbox_key(phone))


PROVIDERS: dict[str, type[TencentSms] | type[CacheSandbox]] = {
    "tencent": TencentSms,
    "sandbox": CacheSandbox,
}


def send_code(phone: str, code: str) -> str:
    """Send the verification code to the (normalised) phone; returns the provider's reference.

    Retries a retryable error up to ATTEMPTS times in all; raises SmsError with the last error.
    """
    provider = PROVIDERS[settings.SMS_PROVIDER]()
    for attempt in range(ATTEMPTS):
        try:
            return provider.send(phone, code)
        except SmsError as exc:
            if not exc.retryable or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
