"""A local Tencent Cloud SMS sandbox: `SendSms` (API 2021-01-11) over real HTTP.

`POST /` with the headers `X-TC-Action: SendSms`, `X-TC-Version: 2021-01-11` and a
TC3-HMAC-SHA256 `Authorization` is verified with the configured SecretId/SecretKey (the same
`members.sms.tc3_authorization` recomputed here, so a wrong key, a changed body or another
SecretId answers `AuthFailure.SignatureFailure`), and the SdkAppId must match. The code (the first
template parameter) is recorded per phone.

- `GET /sandbox/sms/<phone>`: `{"phone", "code", "sent"}` for the last code sent to that phone
  (11 digits, or +86... as sent), 404 if none: the demo and the browser tests read codes here.
- `POST /sandbox/sms/fail` `{"phone": "...", "codes": ["InternalError.Timeout", ...]}`: the
  next sends to that phone answer these error codes in turn (an `Error` for `InternalError.*`,
  `AuthFailure.*`, `RequestLimitExceeded`; a per-number `SendStatusSet` code otherwise), then
  sends succeed again. Tests and the demo use it to show each provider error.
- Magic numbers, for trying errors by hand: 13900000001 always answers
  `LimitExceeded.PhoneNumberDailyLimit`, 13900000002 `InternalError.Timeout`.

Run: `python -m devtools.sandboxes.sms --port 8104` (the secrets and app id come from the
TENCENT_SMS_* settings, so the sandbox trusts what the CRM is configured with).
"""

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from members import sms

MAGIC = {
    "13900000001": "LimitExceeded.PhoneNumberDailyLimit",
    "13900000002": "InternalError.Timeout",
}
_REQUEST_ERRORS = ("InternalError.", "AuthFailure.", "RequestLimitExceeded", "ServiceUnavailable")


def _short(phone: str) -> str:
    return phone[3:] if phone.startswith("+86") else phone


class Sandbox:
    """State shared by the handler threads: the codes sent and the errors queued per phone."""

    def __init__(self, secret_id: str, secret_key: str, sdk_app_id: str):
        self.secret_id, self.secret_key, self.sdk_app_id = secret_id, secret_key, sdk_app_id
        self.lock = threading.Lock()
        self.sent: dict[str, dict[str, object]] = {}
        self.failures: dict[str, list[str]] = {}
        self.requests = 0

    def send_sms(self, headers, body: bytes) -> dict:
        request_id = f"sandbox-{time.time_ns()}"
        with self.lock:
            self.requests += 1

        def error(code: str, message: str) -> dict:
            return {
                "Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}
            }

        if headers.get("X-TC-Action") != sms.ACTION or headers.get("X-TC-Version") != sms.VERSION:
            return error("InvalidAction", "only SendSms 2021-01-11 is implemented")
        try:
            timestamp = int(headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return error("AuthFailure.SignatureFailure", "X-TC-Timestamp missing")
        if abs(time.time() - timestamp) > 300:
            return error("AuthFailure.SignatureExpire", "the request is too old")
        expected = sms.tc3_authorization(
            secret_id=self.secret_id,
            secret_key=self.secret_key,
            service=sms.SERVICE,
            host=headers.get("Host", ""),
            timestamp=timestamp,
            payload=body,
        )
        if headers.get("Content-Type") != sms.CONTENT_TYPE or not _equal(
            headers.get("Authorization", ""), expected
        ):
            return error("AuthFailure.SignatureFailure", "the signature does not match")
        try:
            params = json.loads(body)
            phones = [str(p) for p in params["PhoneNumberSet"]]
            code = str(params["TemplateParamSet"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            return error("InvalidParameter", "PhoneNumberSet and TemplateParamSet are required")
        if params.get("SmsSdkAppId") != self.sdk_app_id:
            return error("InvalidParameterValue.SdkAppIdNotExist", "unknown SmsSdkAppId")
        statuses: list[dict[str, object]] = []
        for phone in phones:
            short = _short(phone)
            with self.lock:
                queued = self.failures.get(short) or []
                failure = queued.pop(0) if queued else MAGIC.get(short)
                if failure is None:
                    if not re.fullmatch(r"1\d{10}", short):
                        failure = "InvalidParameterValue.IncorrectPhoneNumber"
            if failure and failure.startswith(_REQUEST_ERRORS):
                return error(failure, "sandbox failure")
            if failure:
                statuses.append({"PhoneNumber": phone, "Code": failure, "Message": "sandbox"})
                continue
            with self.lock:
                self.sent[short] = {"phone": short, "code": code, "sent": int(time.time())}
            statuses.append(
                {
                    "SerialNo": f"2028:{time.time_ns()}",
                    "PhoneNumber": phone,
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": "Ok",
                    "Message": "send success",
                    "IsoCode": "CN",
                }
            )
        return {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}

    def fail_next(self, phone: str, codes: list[str]) -> None:
        with self.lock:
            self.failures[_short(phone)] = list(codes)

    def last(self, phone: str) -> dict[str, object] | None:
        with self.lock:
            return self.sent.get(_short(phone))


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def make_handler(sandbox: Sandbox):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the demo's console is for the CRM
            pass

        def _json(self, status: int, data: dict) -> None:
            body = json.dumps(data, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):
            if self.path == "/":
                self._json(200, sandbox.send_sms(self.headers, self._body()))
            elif self.path == "/sandbox/sms/fail":
                data = json.loads(self._body() or b"{}")
                sandbox.fail_next(str(data.get("phone", "")), list(data.get("codes", [])))
                self._json(200, {"ok": True})
            else:
                self._json(404, {"error": "not found"})

        def do_GET(self):
            match = re.fullmatch(r"/sandbox/sms/(\+?\d{5,20})", self.path)
            found = sandbox.last(match.group(1)) if match else None
            if found is None:
                self._json(404, {"error": "no code sent to this number"})
            else:
                self._json(200, found)

    return Handler


def serve(sandbox: Sandbox, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start the sandbox in a background thread; returns the server (call shutdown())."""
    server = ThreadingHTTPServer((host, port), make_handler(sandbox))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    from django.conf import settings

    parser = argparse.ArgumentParser(description="Tencent Cloud SMS sandbox")
    parser.add_argument("--port", type=int, default=8104)
    args = parser.parse_args()
    box = Sandbox(
        settings.TENCENT_SMS_SECRET_ID,
        settings.TENCENT_SMS_SECRET_KEY,
        settings.TENCENT_SMS_SDK_APP_ID,
    )
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(box))
    print(f"Tencent Cloud SMS sandbox on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
