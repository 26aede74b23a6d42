"""The webhooks' own request path: `/hooks/...` skips Django's browser request cycle (issue #17).

WeChat, the Weibo fan service and WeChat Pay push to `/hooks/...` (channels_wechat.hooks,
channels_weibo.hooks, members.hooks). None of those requests has a session, a language, a user, a
message or a CSRF token: they are signed by the platform, and each hook checks its signature,
bounds its body and answers in its platform's format. So `crm.wsgi` hands every path under
WEBHOOK_PREFIX to `HookApp` and everything else to Django's usual handler.

`HookApp` is a handler for the hook views alone. It resolves the path against the hook routes
only (the URLconf's own patterns under WEBHOOK_PREFIX), builds a `HookRequest` (Django's
WSGIRequest whose query string is parsed into a plain dict: no QueryDict, no cookies, no POST
parsing), and runs the view inside the two middlewares a webhook needs, SecurityMiddleware
(HTTPS redirect, HSTS, nosniff) and CommonMiddleware (the ALLOWED_HOSTS check, disallowed user
agents). Everything else is Django's own: request_started / request_finished (which manage the
database connections), `response_for_exception` (Http404 answers 404, a disallowed host 400,
any other exception 500 and is logged, so a database that is down answers 5xx, never
`success`), the response objects. Measured in one process on the WeChat safe-mode push
(2026-12-07): Django's handler with only those two middlewares cost 150 us of CPU a push around
the view, this one about 60 us. Only hook views may be routed under WEBHOOK_PREFIX
(tests/crm/test_webhook_path.py checks the URLconf).
"""

import time
from typing import Any
from urllib.parse import parse_qsl

from asgiref.sync import ThreadSensitiveContext
from asgiref.wsgi import WsgiToAsgi
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest, get_bytes_from_wsgi
from django.core.signals import request_started
from django.http import Http404, HttpRequest
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils.functional import cached_property

WEBHOOK_PREFIX = "/hooks/"
# Django's own limit on query fields (DATA_UPLOAD_MAX_NUMBER_FIELDS), which QueryDict applies.
MAX_QUERY_FIELDS = 1000


class HookRequest(WSGIRequest):
    """A WSGIRequest whose GET is a plain dict of the query string (the last value of a
    repeated name, as QueryDict.get gives): what hooks read, at a fifth of QueryDict's cost."""

    @cached_property
    def GET(self) -> dict[str, str]:  # type: ignore[override]  # noqa: N802  Django's name
        from django.conf import settings
        from django.core.exceptions import TooManyFieldsSent

        raw = get_bytes_from_wsgi(self.environ, "QUERY_STRING", "")
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS or None
        try:
            return dict(
                parse_qsl(
                    raw.decode("utf-8", "replace"),
                    keep_blank_values=True,
                    max_num_fields=limit,
                    errors="replace",
                )
            )
        except ValueError as exc:  # more fields than the limit
            raise TooManyFieldsSent(f"The number of GET parameters exceeded {limit}") from exc


def _hook_routes() -> list[tuple[RoutePattern, Any]]:
    """(pattern, view) of every URL under WEBHOOK_PREFIX in the project's URLconf."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if ("/" + route).startswith(WEBHOOK_PREFIX):
                    found.append((RoutePattern(route, is_endpoint=True), pattern.callback))

    walk(get_resolver().url_patterns, "")
    return found


class HookApp:
    """WSGI application for the paths under WEBHOOK_PREFIX (see the module docstring)."""

    def __init__(self) -> None:
        self.routes: list[tuple[RoutePattern, Any]] | None = None
        # Built the way Django builds a chain: each middleware wraps the next callable.
        self.chain = SecurityMiddleware(CommonMiddleware(self._view))

    def _view(self, request: HttpRequest):
        if self.routes is None:
            self.routes = _hook_routes()
        path = request.path_info.lstrip("/")
        for pattern, view in self.routes:
            match = pattern.match(path)
            if match is not None:
                return view(request, *match[1], **match[2])
        raise Http404("No webhook at this path.")

    def handle(self, environ) -> tuple[HookRequest, Any]:
        """The request and Django's response for it (not yet closed: closing it sends
        request_finished). The test client routes hooks here too (tests/hook_client.py)."""
        request_started.send(sender=self.__class__, environ=environ)
        request = HookRequest(environ)
        try:
            response = self.chain(request)
        except Exception as exc:  # noqa: BLE001  Django's answer to it: 404, 400, 500 logged
            response = response_for_exception(request, exc)
        return request, response

    def __call__(self, environ, start_response):
        _request, response = self.handle(environ)
        # HttpResponse.close(), called by the server, sends request_finished.
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response


class WebhookDispatch:
    """WSGI application: paths under WEBHOOK_PREFIX to HookApp, the rest to `application`
    (the project's usual handler)."""

    def __init__(self, application) -> None:
        self.application = application
        self.hooks = HookApp()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return self.hooks(environ, start_response)
        return self.application(environ, start_response)


def _closing(app):
    """`app` with its response buffered and closed before it is returned: asgiref's WsgiToAsgi
    never calls the response's close(), which sends request_finished (where Django closes
    stale database connections). A hook's answer is a few bytes."""

    def closed(environ, start_response):
        response = app(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()

    return closed


class AsgiWebhookDispatch:
    """ASGI application: HTTP paths under WEBHOOK_PREFIX to HookApp, the rest to `application`
    (Django's ASGI handler), so a hook served by Daphne (the demo; production without gunicorn)
    takes the same path as under gunicorn. HookApp runs through asgiref's WsgiToAsgi in the
    way Django's ASGI handler runs sync views: thread-sensitive, in a thread of the request's
    own (ThreadSensitiveContext), so one hook waiting on the database holds up no other."""

    def __init__(self, application) -> None:
        self.application = application
        self.hooks = WsgiToAsgi(_closing(HookApp()))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith(WEBHOOK_PREFIX):
            async with ThreadSensitiveContext():
                return await self.hooks(scope, receive, send)
        return await self.application(scope, receive, send)


# The accounts hooks verify against ---------------------------------------------------------

# A cached account is used at most this long without being read again, whatever the versions
# say (a change made without a model signal, e.g. QuerySet.update, shows within this time).
ACCOUNT_CACHE_SECONDS = 60
# A copy whose version was checked this recently is used without checking it again: a change
# saved in another process reaches this one's hooks within this time (in the saving process, at
# once). Checking on every push was one Redis round trip of three a push, and each one the
# worker waits for costs it more CPU under load than the command: the WeChat hook took 1.0 ms of
# CPU a push alone on a connection and 1.57 ms at 50 connections, where the minimal view, one
# round trip, took 0.57 and 0.62 (gunicorn, 2026-12-07).
ACCOUNT_FRESH_SECONDS = 1.0
_clock = time.monotonic


class AccountCache:
    """The accounts one hook verifies pushes against (OfficialAccount by appid, ...), kept in
    each web process and checked against a version in the shared cache.

    A push costs no account query unless the account changed, and at most one Redis GET a
    second per account and process (`current`): every save or delete of one (post_save /
    post_delete, once committed) drops this process's copy and writes a new version, and a
    process whose copy was checked over ACCOUNT_FRESH_SECONDS ago reads the version; if it is
    another (or none it saw), or the copy is ACCOUNT_CACHE_SECONDS old, it reads the row again.
    With the cache down every push reads the row, as without this class.
    """

    def __init__(self, model, field: str, **filters) -> None:
        from django.db.models.signals import post_delete, post_save

        self.model, self.field, self.filters = model, field, filters
        # key -> (account, version, read at, version checked at)
        self.entries: dict[str, tuple[object, object, float, float]] = {}
        label = model._meta.label_lower
        self.prefix = f"hook-account:{label}:"
        post_save.connect(self._changed, sender=model, dispatch_uid=f"{self.prefix}save")
        post_delete.connect(self._changed, sender=model, dispatch_uid=f"{self.prefix}delete")

    def version_key(self, key: str) -> str:
        return self.prefix + key

    def _changed(self, sender, instance, **kwargs) -> None:
        import uuid

        from django.core.cache import cache
        from django.db import transaction

        name = str(getattr(instance, self.field))

        def bump() -> None:
            self.entries.pop(name, None)
            try:
                cache.set(self.version_key(name), uuid.uuid4().hex, None)
            except Exception:  # noqa: BLE001, S110  cache down: copies expire on their own
                pass

        transaction.on_commit(bump)

    def current(self, key: str) -> Any:
        """The account `key` as it is now (None if there is none matching the filters): this
        process's copy if it was checked within ACCOUNT_FRESH_SECONDS, or if the shared cache
        says it is unchanged; else the row."""
        from django.db import transaction

        from .ingestion import cache_get_raw

        held = self.entries.get(key)
        if held is not None and _clock() - held[3] < ACCOUNT_FRESH_SECONDS:
            if not transaction.get_connection().in_atomic_block:
                return held[0]
        return self.get(key, cache_get_raw(self.version_key(key)))

    def get(self, key: str, version) -> Any:
        """The account `key` (None if there is none matching the filters), read again unless
        this process holds it with this `version` (None: the cache did not answer; "": the
        cache has no version, which a save or delete changes)."""
        from django.db import transaction

        if transaction.get_connection().in_atomic_block:
            version = None  # in a transaction (tests, ATOMIC_REQUESTS): what it sees, no copy
        now = _clock()
        held = self.entries.get(key)
        if held is not None and version is not None and held[1] == version:
            if now - held[2] < ACCOUNT_CACHE_SECONDS:
                self.entries[key] = (held[0], version, held[2], now)
                return held[0]
        account = self.model.objects.filter(**{self.field: key}, **self.filters).first()
        if version is not None and account is not None:  # a URL can name any key: keep real ones
            self.entries[key] = (account, version, now, now)
        else:
            self.entries.pop(key, None)
        return account


def read_body(request, limit: int) -> bytes | None:
    """The request body, or None if it is (or says it is) over `limit` bytes: a hook answers
    413 for it once the sender is verified, without having read more than limit + 1 bytes."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body
