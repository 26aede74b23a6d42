"""A real HTTP client for the Weibo API subset the CRM uses (reference/weibo-api.md section 2).

Base URLs come from settings (`WEIBO_API_BASE`, `WEIBO_MESSAGES_API_BASE`), so tests and the demo
talk to the sandbox and production to api.weibo.com. Every response body is checked for
`error_code` (2xx or not), ids are kept as strings, and errors are classified:

- RateLimited (10022 IP, 10023 user, 10024 endpoint): back off until the reset, never hot-retry;
- TokenInvalid (21327 expired, 21332, 21315, 21314, 21316, 21317, 21319, 21501): the operator
  must authorise again; never retried;
- TransientError (10001-10003, network errors): retry later with backoff;
- WeiboError: anything else (permission, bad parameter): shown, not retried.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

RATE_LIMIT_CODES = {10022, 10023, 10024}
TOKEN_CODES = {21314, 21315, 21316, 21317, 21319, 21327, 21332, 21501}
REVOKED_CODES = {21315, 21316, 21317, 21319, 21332}
TRANSIENT_CODES = {10001, 10002, 10003, 10009, 10010}
# When the API does not say when the window resets, wait until the next full hour at most
# (the documented windows are hourly) and at least this long.
DEFAULT_BACKOFF = timedelta(minutes=15)


class WeiboError(Exception):
    def __init__(self, code: int, message: str, request: str = ""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request = request


class RateLimited(WeiboError):
    def __init__(self, code, message, request="", reset_in: int | None = None):
        super().__init__(code, message, request)
        self.reset_in = reset_in


class TokenInvalid(WeiboError):
    @property
    def revoked(self) -> bool:
        return self.code in REVOKED_CODES


class TransientError(WeiboError):
    pass


def raise_for_error(body: Any, status: int = 200, headers=None) -> None:
    """Raise the right WeiboError if the decoded body is an error object."""
    if not isinstance(body, dict) or "error_code" not in body:
        if status >= 400:
            raise (
                TransientError(status, f"HTTP {status}")
                if status >= 500
                else WeiboError(status, f"HTTP {status}")
            )
        return
    try:
        code = int(body["error_code"])
    except (TypeError, ValueError):
        code = 0
    message = str(body.get("error_description") or body.get("error") or "")
    request = str(body.get("request", ""))
    if code in RATE_LIMIT_CODES:
        reset = body.get("reset_time_in_seconds")
        if reset is None and headers is not None:
            reset = headers.get("X-RateLimit-Reset") or headers.get("Retry-After")
        raise RateLimited(code, message, request, int(reset) if reset not in (None, "") else None)
    if code in TOKEN_CODES:
        raise TokenInvalid(code, message, request)
    if code in TRANSIENT_CODES:
        raise TransientError(code, message, request)
    raise WeiboError(code, message, request)


class WeiboClient:
    """One brand account's view of the API (its OAuth token)."""

    def __init__(self, access_token: str = "", *, base: str | None = None, messages_base=None):
        self.access_token = access_token
        self.base = (base or settings.WEIBO_API_BASE).rstrip("/")
        self.messages_base = (
            messages_base or getattr(settings, "WEIBO_MESSAGES_API_BASE", "") or self.base
        ).rstrip("/")
        self.timeout = getattr(settings, "PLATFORM_HTTP_TIMEOUT", 5)

    # -- transport ---------------------------------------------------------------------------
    def _call(self, method: str, url: str, params: dict[str, Any]) -> Any:
        params = {k: str(v) for k, v in params.items() if v not in (None, "")}
        headers = {"Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"OAuth2 {self.access_token}"
        data = None
        if method == "GET":
            if params:
                url = f"{url}?{urllib.parse.urlencode(params)}"
        else:
            data = urllib.parse.urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        path = urllib.parse.urlsplit(url).path
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw, status, resp_headers = response.read(), response.status, response.headers
        except urllib.error.HTTPError as exc:
            raw, status, resp_headers = exc.read(), exc.code, exc.headers
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientError(0, f"network error calling {path}: {exc}", path) from exc
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if status >= 500:
                raise TransientError(status, f"HTTP {status} from {path}", path) from exc
            raise WeiboError(status, f"not JSON from {path} (HTTP {status})", path) from exc
        raise_for_error(body, status, resp_headers)
        return body

    def get(self, resource: str, **params) -> Any:
        return self._call("GET", f"{self.base}/2/{resource}.json", params)

    def post(self, resource: str, **params) -> Any:
        return self._call("POST", f"{self.base}/2/{resource}.json", params)

    # -- OAuth -------------------------------------------------------------------------------
    def authorize_url(self, app_key: str, redirect_uri: str, state: str) -> str:
        query = urllib.parse.urlencode(
            {
                "client_id": app_key,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self.base}/oauth2/authorize?{query}"

    def access_token_for_code(
        self, app_key: str, app_secret: str, code: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Exchange an authorization code: {access_token, expires_in, uid (string)}."""
        body = self._call(
            "POST",
            f"{self.base}/oauth2/access_token",
            {
                "client_id": app_key,
                "client_secret": app_secret,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
            },
        )
        if "access_token" not in body or "uid" not in body:
            raise WeiboError(0, "the access_token answer has no access_token or uid")
        body["uid"] = str(body["uid"])
        return body

    # -- reading -----------------------------------------------------------------------------
    def statuses_mentions(self, since_id="", max_id="", count=200, page=1) -> dict:
        return self.get(
            "statuses/mentions", since_id=since_id, max_id=max_id, count=count, page=page
        )

    def comments_mentions(self, since_id="", max_id="", count=200, page=1) -> dict:
        return self.get(
            "comments/mentions", since_id=since_id, max_id=max_id, count=count, page=page
        )

    def comments_to_me(self, since_id="", max_id="", count=200, page=1) -> dict:
        return self.get("comments/to_me", since_id=since_id, max_id=max_id, count=count, page=page)

    def repost_timeline(self, status_id: str, since_id="", max_id="", count=200, page=1) -> dict:
        return self.get(
            "statuses/repost_timeline",
            id=status_id,
            since_id=since_id,
            max_id=max_id,
            count=count,
            page=page,
        )

    def user_timeline(self, uid: str, since_id="", max_id="", count=100, page=1) -> dict:
        return self.get(
            "statuses/user_timeline",
            uid=uid,
            since_id=since_id,
            max_id=max_id,
            count=count,
            page=page,
        )

    def status_show(self, status_id: str) -> dict:
        return self.get("statuses/show", id=status_id)

    def user_show(self, uid: str = "", screen_name: str = "") -> dict:
        return self.get("users/show", uid=uid, screen_name=screen_name)

    def user_counts(self, uids: list[str]) -> list[dict]:
        return self.get("users/counts", uids=",".join(str(u) for u in uids))

    # -- writing -----------------------------------------------------------------------------
    def share(self, text: str, rip: str = "127.0.0.1") -> dict:
        """Publish a status (statuses/share): the created status object."""
        return self.post("statuses/share", status=text, rip=rip)

    def comment_create(self, status_id: str, text: str, rip: str = "127.0.0.1") -> dict:
        """Comment on a status (comments/create): the created comment object."""
        return self.post("comments/create", id=status_id, comment=text, rip=rip)

    def comment_reply(self, comment_id: str, status_id: str, text: str, rip="127.0.0.1") -> dict:
        """Answer a comment (comments/reply): the created comment object."""
        return self.post("comments/reply", cid=comment_id, id=status_id, comment=text, rip=rip)

    def reply_message(self, receiver_id: str, text: str) -> dict:
        """Fan-service customer-service message (messages/reply) to a fan, as text."""
        data = json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":"))
        return self._call(
            "POST",
            f"{self.messages_base}/2/messages/reply.json",
            {
                "access_token": self.access_token,
                "type": "text",
                "data": data,
                "receiver_id": receiver_id,
                "save_sender_box": 1,
            },
        )


def paged(fetch, key: str, since_id: str = "", count: int = 200, max_pages: int = 20):
    """Yield pages (lists) newest first, walking down with max_id until since_id is reached.

    `fetch(since_id=..., max_id=..., count=...)` is one of the timeline calls. max_id is
    inclusive, so the next page asks for the last id minus one (ids as exact Python ints).
    """
    max_id = ""
    for _ in range(max_pages):
        body = fetch(since_id=since_id, max_id=max_id, count=count)
        items = (body.get(key) or []) if isinstance(body, dict) else []
        if not items:
            return
        yield items
        if len(items) < count:
            return
        lowest = min(int(item.get("idstr") or item["id"]) for item in items)
        max_id = str(lowest - 1)
