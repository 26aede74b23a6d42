"""Access protection: API throttling per token, admin login rate limiting, phone masking.

- `TokenRateThrottle` / `AnonThrottle`: DRF throttles (settings `DEFAULT_THROTTLE_CLASSES`) with
  the rates of `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` read at each request, so an override
  takes effect at once. A refused request gets 429 with `Retry-After`.
- Admin login rate limiting: after `LOGIN_FAILURE_LIMIT` failed logins for one username or from
  one IP address within `LOGIN_FAILURE_WINDOW` seconds, the admin login page refuses further
  attempts (429, with the time to wait) until the window has passed. Failures are counted in the
  shared cache by a `user_login_failed` receiver, so every web process sees the same counts.
- `SecurityMiddleware` applies the login limit, refuses API bodies over `API_MAX_BODY_BYTES`
  with 413 and a message, and tells the audit log who the request's user is.
- `SafeJSONParser`: deeply nested JSON is a 400 parse error, not a RecursionError.
- `mask_phone`: `13800138000` -> `138****8000`, for users without `crm.view_customer_phone`.
"""

import time

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.forms.utils import ErrorDict
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from .audit import current_actor

PHONE_PERMISSION = "crm.view_customer_phone"


def stale_push(timestamp: str, *, now: float | None = None) -> bool:
    """True when a signed push's `timestamp` is missing, not a number, or further than
    WEBHOOK_MAX_AGE seconds from now: a captured request replayed later is refused even with a
    valid signature. Accepts seconds (WeChat) and milliseconds (Weibo). Inside the window a
    replay is a no-op anyway: processing dedupes on the platform's message ids.
    """
    max_age = settings.WEBHOOK_MAX_AGE
    if not max_age:
        return False
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        return True
    seconds = value / 1000 if value > 10**11 else value
    return abs((time.time() if now is None else now) - seconds) > max_age


def mask_phone(phone: str) -> str:
    """The phone with its middle digits hidden: 3 first and 4 last digits of a mainland mobile."""
    if not phone:
        return phone
    if len(phone) == 11 and phone.isdigit():
        return f"{phone[:3]}****{phone[7:]}"
    if len(phone) > 6:
        return phone[:4] + "*" * (len(phone) - 8) + phone[-4:] if len(phone) > 8 else "****"
    return "****"


def may_see_phone(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(PHONE_PERMISSION))


class _LiveRates:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_LiveRates, UserRateThrottle):
    """Requests per authenticated user (whatever token or session they use)."""

    def allow_request(self, request, view):
        # DRF authenticates after the middleware ran: the first hook that sees the API user.
        if request.user and request.user.is_authenticated:
            current_actor.set(request.user)
        return super().allow_request(request, view)


class AnonThrottle(_LiveRates, AnonRateThrottle):
    """Requests per client IP address for unauthenticated calls (the public schema)."""


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, with deep nesting answered 400 instead of a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("JSON parse error - the document is nested too deeply.")) from exc


def _too_large(request) -> JsonResponse | None:
    """413 for an API request whose declared body exceeds API_MAX_BODY_BYTES."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = settings.API_MAX_BODY_BYTES
    if declared <= limit:
        return None
    message = _("The request body is %(size)d bytes; the API accepts at most %(limit)d.") % {
        "size": declared,
        "limit": limit,
    }
    return JsonResponse({"detail": message}, status=413)


# Admin login rate limiting --------------------------------------------------------------------


def _client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client and would let it pick its own key.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _keys(username: str, ip: str) -> list[str]:
    keys = [f"login-failures:ip:{ip}"]
    if username:
        keys.append(f"login-failures:user:{username.strip().lower()[:150]}")
    return keys


def _count_failure(key: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW
    cache.add(key + ":since", time.time(), window)
    if not cache.add(key, 1, window):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, window)


def login_refused_for(username: str, ip: str) -> int:
    """Seconds until a login for this username from this IP is accepted again (0: now)."""
    wait = 0
    for key in _keys(username, ip):
        if (cache.get(key) or 0) >= settings.LOGIN_FAILURE_LIMIT:
            since = cache.get(key + ":since") or time.time()
            wait = max(wait, int(since + settings.LOGIN_FAILURE_WINDOW - time.time()) + 1)
    return wait


@receiver(user_login_failed, dispatch_uid="crm.security.count_login_failure")
def count_login_failure(sender, credentials, request=None, **kwargs) -> None:
    if request is None:
        return
    for key in _keys(credentials.get("username", ""), _client_ip(request)):
        _count_failure(key)


@receiver(user_logged_in, dispatch_uid="crm.security.reset_login_failures")
def reset_login_failures(sender, request, user, **kwargs) -> None:
    key = _keys(user.get_username(), "-")[1]
    cache.delete_many([key, key + ":since"])


class _RefusedLoginForm(AdminAuthenticationForm):
    """The admin login form showing only the refusal (it authenticates nothing)."""

    def __init__(self, request, username: str, message: str):
        super().__init__(request, initial={"username": username})
        self._errors = ErrorDict({"__all__": self.error_class([message], error_class="nonfield")})


def refused_login(request, username: str, wait: int) -> TemplateResponse:
    minutes = max(1, (wait + 59) // 60)
    message = _(
        "Too many failed logins for this user or from this address. "
        "Try again in %(minutes)d minutes."
    ) % {"minutes": minutes}
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": username,
        "form": _RefusedLoginForm(request, username, message),
        "next": request.GET.get("next", ""),
    }
    response = TemplateResponse(request, "admin/login.html", context, status=429)
    response.render()
    response["Retry-After"] = str(wait)
    return response


class SecurityMiddleware:
    """Refuses admin logins over the failure limit; records the request's user for the audit."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._login_path = None

    def __call__(self, request):
        if self._login_path is None:
            self._login_path = reverse("admin:login")
        if request.path.startswith("/api/"):
            refused = _too_large(request)
            if refused is not None:
                return refused
        if request.method == "POST" and request.path == self._login_path:
            username = request.POST.get("username", "")
            wait = login_refused_for(username, _client_ip(request))
            if wait:
                return refused_login(request, username, wait)
        token = current_actor.set(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            current_actor.reset(token)
