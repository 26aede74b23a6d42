"""The WeChat Official Account HTTP API: access token, customer-service messages, user info.

HTTP only: what to send and what to store of an answer are channels_wechat.actions'.

A real HTTP client (urllib) against `settings.WECHAT_API_BASE` (the sandbox in tests and the demo).

Access token: fetched from `cgi-bin/stable_token` and cached centrally in Django's cache (Redis
in production) under a lock, so only one process refreshes while the others wait and read the
cached token (wechat-protocol.md 6.3 and pitfalls). A 40001/40014/42001 answer drops the cached
token (only if it is still the one that failed) and the call is retried once with a new one.

Errors: `crm.inbox.SendError` carries WeChat's errcode. 45015 (outside the 48-hour window or
unsubscribed) and 45047 (quota used up) are permanent and shown to the agent as such; -1 (system
busy), HTTP 5xx and network errors are transient and retried with backoff.
"""

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.core.cache import cache

from crm.inbox import SendError

from .models import OfficialAccount

logger = logging.getLogger(__name__)

TOKEN_ERRORS = {"40001", "40014", "42001"}
TRANSIENT_ERRORS = {"-1", "45009"}
RETRY_DELAYS = (0.2, 0.8, 2.0)
LOCK_SECONDS = 10


class WeChatClient:
    """One official account's API client."""

    def __init__(self, account: OfficialAccount, base_url: str | None = None):
        self.account = account
        self.base = (base_url or settings.WECHAT_API_BASE).rstrip("/")
        self.timeout = settings.PLATFORM_HTTP_TIMEOUT

    # --- HTTP -------------------------------------------------------------------------------

    def _http(self, method: str, path: str, params: dict, body: dict | None) -> dict[str, Any]:
        url = f"{self.base}/{path}?{urllib.parse.urlencode(params)}"
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            # WeChat shows \uXXXX escapes literally: send Chinese as UTF-8.
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        request = urllib.request.Request(  # noqa: S310  the base URL comes from settings
            url, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            transient = exc.code >= 500 or exc.code == 429
            raise SendError(f"http_{exc.code}", f"HTTP {exc.code}", transient=transient) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SendError(
                "network", f"WeChat API unreachable: {reason}", transient=True
            ) from None
        try:
            result = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SendError(
                "bad_response", "WeChat API answered something else than JSON"
            ) from None
        return self._checked(result)

    def _checked(self, result: dict[str, Any]) -> dict[str, Any]:
        """The answer, or SendError for a non-zero errcode (transient ones retried)."""
        code = str(result.get("errcode", 0))
        if code != "0":
            message = str(result.get("errmsg", ""))
            raise SendError(code, message, transient=code in TRANSIENT_ERRORS)
        return result

    def _with_retries(self, method, path, params, body) -> dict[str, Any]:
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                return self._http(method, path, params, body)
            except SendError as exc:
                if not exc.transient or delay is None:
                    raise
                logger.info("WeChat %s failed (%s), retry %s", path, exc.code, attempt + 1)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # --- access token -------------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        return f"wechat:token:{self.account.appid}"

    def access_token(self) -> str:
        """The cached token, or a fresh one fetched by exactly one process at a time."""
        token = cache.get(self._token_key)
        if token:
            return token
        lock = f"{self._token_key}:lock"
        deadline = time.monotonic() + LOCK_SECONDS + 2
        while time.monotonic() < deadline:
            if cache.add(lock, "1", timeout=LOCK_SECONDS):
                try:
                    token = cache.get(self._token_key)  # another process may have just finished
                    if token:
                        return token
                    return self._fetch_token()
                finally:
                    cache.delete(lock)
            time.sleep(0.05)
            token = cache.get(self._token_key)
            if token:
                return token
        raise SendError("token_timeout", "timed out waiting for the access token", transient=True)

    def _fetch_token(self) -> str:
        result = self._with_retries(
            "POST",
            "cgi-bin/stable_token",
            {},
            {
                "grant_type": "client_credential",
                "appid": self.account.appid,
                "secret": self.account.app_secret,
                "force_refresh": False,
            },
        )
        token = result["access_token"]
        # Renew a little before WeChat does, never keep it for less than a minute.
        lifetime = max(int(result.get("expires_in", 7200)) - 300, 60)
        cache.set(self._token_key, token, timeout=lifetime)
        logger.info("fetched a WeChat access token for %s", self.account.appid)
        return token

    def invalidate_token(self, token: str) -> None:
        """Forget the cached token if it is still the one that was refused."""
        if cache.get(self._token_key) == token:
            cache.delete(self._token_key)

    def call(self, method: str, path: str, body: dict | None = None, **params) -> dict[str, Any]:
        """An authenticated API call; a refused token is replaced once."""
        for attempt in range(2):
            token = self.access_token()
            try:
                return self._with_retries(method, path, {"access_token": token, **params}, body)
            except SendError as exc:
                if exc.code in TOKEN_ERRORS and attempt == 0:
                    self.invalidate_token(token)
                    continue
                raise
        raise AssertionError("unreachable")

    # --- API ----------------------------------------------------------------------------------

    def send(self, openid: str, msg_type: str, payload: dict) -> str:
        """Send a customer-service message; returns WeChat's msgid (may be '')."""
        result = self.call(
            "POST",
            "cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": msg_type, msg_type: payload},
        )
        return str(result.get("msgid", ""))

    def send_text(self, openid: str, text: str) -> str:
        return self.send(openid, "text", {"content": text})

    def send_image(self, openid: str, media_id: str) -> str:
        return self.send(openid, "image", {"media_id": media_id})

    def send_news(self, openid: str, article: dict) -> str:
        fields = ("title", "description", "url", "picurl")
        return self.send(openid, "news", {"articles": [{k: article.get(k, "") for k in fields}]})

    def user_info(self, openid: str) -> dict[str, Any]:
        return self.call("GET", "cgi-bin/user/info", openid=openid, lang="zh_CN")

    def create_qrcode(self, scene: str, expire_seconds: int | None) -> dict[str, Any]:
        """`cgi-bin/qrcode/create` with a string scene: temporary (`QR_STR_SCENE`) when
        `expire_seconds` is given, else permanent (`QR_LIMIT_STR_SCENE`). Returns WeChat's
        answer: ticket, url and (temporary) expire_seconds."""
        body: dict[str, Any] = {
            "action_name": "QR_STR_SCENE" if expire_seconds else "QR_LIMIT_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        if expire_seconds:
            body = {"expire_seconds": expire_seconds, **body}
        return self.call("POST", "cgi-bin/qrcode/create", body)


def show_qrcode(ticket: str, base_url: str | None = None) -> bytes:
    """The QR code image (JPEG or PNG bytes) of a ticket from `showqrcode` on
    `settings.WECHAT_MP_BASE` (no access token: the ticket is the credential). Raises SendError
    for an HTTP error, a network error or an answer that is not an image."""
    base = (base_url or settings.WECHAT_MP_BASE).rstrip("/")
    url = f"{base}/cgi-bin/showqrcode?{urllib.parse.urlencode({'ticket': ticket})}"
    try:
        with urllib.request.urlopen(url, timeout=settings.PLATFORM_HTTP_TIMEOUT) as response:  # noqa: S310
            payload = response.read()
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raise SendError(f"http_{exc.code}", f"HTTP {exc.code}", transient=exc.code >= 500) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError("network", f"WeChat unreachable: {reason}", transient=True) from None
    if not content_type.startswith("image/"):
        raise SendError("bad_response", "showqrcode answered something else than an image")
    return payload
