"""The webhooks' own request path: `/hooks/...` skips the browser middleware (issue #17).

WeChat, the Weibo fan service and WeChat Pay push to `/hooks/...` (channels_wechat.hooks,
channels_weibo.hooks, members.hooks). None of those requests has a session, a language, a user, a
message or a CSRF token: they are signed by the platform, and each hook checks its signature,
bounds its body and answers in its platform's format. Running them through sessions, locale,
auth, CSRF and messages middleware costs as much as the hook itself, so `crm.wsgi` hands every
path under WEBHOOK_PREFIX to a second Django handler built with `MIDDLEWARE` below, and
everything else to the usual one.

What the hook path keeps: Django's SecurityMiddleware (HTTPS redirect, HSTS, nosniff) and
CommonMiddleware (the ALLOWED_HOSTS check, disallowed user agents). Exceptions still become 500s
(a database that is down answers 5xx, never `success`), request_started / request_finished still
manage database connections. Only hook views may be routed under WEBHOOK_PREFIX
(tests/crm/test_webhook_path.py checks the URLconf).
"""

from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

WEBHOOK_PREFIX = "/hooks/"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]


class WebhookHandler(WSGIHandler):
    """A WSGI handler whose middleware chain is `MIDDLEWARE`, not settings.MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; this runs once, when the handler
        # is created (at import of the WSGI module, before any request is served).
        browser = settings.MIDDLEWARE
        settings.MIDDLEWARE = MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = browser


class WebhookDispatch:
    """WSGI application: paths under WEBHOOK_PREFIX to the webhook handler, the rest to
    `application` (the project's usual handler)."""

    def __init__(self, application) -> None:
        self.application = application
        self.hooks = WebhookHandler()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return self.hooks(environ, start_response)
        return self.application(environ, start_response)


# The accounts hooks verify against ---------------------------------------------------------

# A cached account is used at most this long without being read again, whatever the versions
# say (a change made without a model signal, e.g. QuerySet.update, shows within this time).
ACCOUNT_CACHE_SECONDS = 60


class AccountCache:
    """The accounts one hook verifies pushes against (OfficialAccount by appid, ...), kept in
    each web process and checked against a version in the shared cache on every push.

    The version is one Redis GET per push (`current`), so a push costs no account query
    unless the account changed: every save or delete of one (post_save / post_delete, once
    committed) writes a new version, and a process whose copy has another version (or none it
    saw, or is ACCOUNT_CACHE_SECONDS old) reads the row again. With the cache down every push reads the row, as without this class.
    """

    def __init__(self, model, field: str, **filters) -> None:
        from django.db.models.signals import post_delete, post_save

        self.model, self.field, self.filters = model, field, filters
        self.entries: dict[str, tuple[object, object, float]] = {}
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

        key = self.version_key(str(getattr(instance, self.field)))

        def bump() -> None:
            try:
                cache.set(key, uuid.uuid4().hex, None)
            except Exception:  # noqa: BLE001, S110  cache down: copies expire on their own
                pass

        transaction.on_commit(bump)

    def current(self, key: str) -> Any:
        """The account `key` as it is now (None if there is none matching the filters): this
        process's copy if the shared cache says it is unchanged, else the row."""
        from .ingestion import cache_get_raw

        return self.get(key, cache_get_raw(self.version_key(key)))

    def get(self, key: str, version) -> Any:
        """The account `key` (None if there is none matching the filters), read again unless
        this process holds it with this `version` (None: the cache did not answer; "": the
        cache has no version, which a save or delete changes)."""
        import time

        from django.db import connection

        if connection.in_atomic_block:
            version = None  # in a transaction (tests, ATOMIC_REQUESTS): what it sees, no copy
        now = time.monotonic()
        held = self.entries.get(key)
        if held is not None and version is not None and held[1] == version:
            if now - held[2] < ACCOUNT_CACHE_SECONDS:
                return held[0]
        account = self.model.objects.filter(**{self.field: key}, **self.filters).first()
        if version is not None and account is not None:  # a URL can name any key: keep real ones
            self.entries[key] = (account, version, now)
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
