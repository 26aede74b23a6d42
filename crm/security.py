"""Access protection: API throttling per token, admin login rate limiting, phone masking.

- `TokenRateThrottle` / `AnonThrottle`: DRF throttles (settings `DEFAULT_THROTTLE_CLASSES`) with
  the rates of `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` read at each request, so an override
  takes effect at once. A refused request gets 429 with `Retry-After`.
- `client_ip`: the client's address, from X-Forwarded-For only behind a trusted proxy
  (settings `TRUSTED_PROXIES`); the login limiter and the anonymous API throttle key on it.
- Admin login rate limiting: after `LOGIN_FAILURE_LIMIT` failed logins for one username from
  one client address, or `LOGIN_FAILURE_LIMIT_PER_ADDRESS` from one address whatever the
  username, within `LOGIN_FAILURE_WINDOW` seconds, the admin login page refuses further attempts
  from that address (429, with the time to wait) until the window has passed. Failures are
  counted in the shared cache by a `user_login_failed` receiver, so every web process sees the
  same counts.
- `SecurityMiddleware` applies the login limit, refuses API bodies over `API_MAX_BODY_BYTES`
  with 413 and a message, and tells the audit log who the request's user is.
- `SafeJSONParser`: deeply nested JSON is a 400 parse error, not a RecursionError.
- `mask_phone`: `13800138000` -> `138****8000`, for users without `crm.view_customer_phone`.
"""

import functools
import ipaddress
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

    def get_ident(self, request):  # anonymous callers: see AnonThrottle
        return client_ip(request)


class AnonThrottle(_LiveRates, AnonRateThrottle):
    """Requests per client IP address for unauthenticated calls (the public schema)."""

    def get_ident(self, request):
        # DRF's own believes any X-Forwarded-For, letting a client pick a fresh key per request.
        return client_ip(request)


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


# Client address and admin login rate limiting ------------------------------------------------


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request) -> str:
    """The address of the client that sent `request`.

    REMOTE_ADDR, unless that is a trusted proxy (settings.TRUSTED_PROXIES): then the right-most
    X-Forwarded-For address that is not a trusted proxy. Each proxy appends the address it got
    the request from, so everything left of that is written by the client and never believed.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not _trusted(remote):
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop):
            return hop[:64]
        remote = hop  # every hop so far is a proxy of ours: the left-most one is the client
    return remote


def _user_key(username: str, ip: str) -> str:
    return f"login-failures:user-ip:{username.strip().lower()[:150]}|{ip}"


def _address_key(ip: str) -> str:
    return f"login-failures:ip:{ip}"


def _count_failure(key: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW
    cache.add(key + ":since", time.time(), window)
    if not cache.add(key, 1, window):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, window)


def _wait(key: str, limit: int) -> int:
    if (cache.get(key) or 0) < limit:
        return 0
    since = cache.get(key + ":since") or time.time()
    return int(since + settings.LOGIN_FAILURE_WINDOW - time.time()) + 1


def login_refusal(username: str, ip: str) -> tuple[int, str]:
    """(seconds until a login for this username from this address is accepted again, why);
    (0, "") when it is accepted now.

    Failures count per (username, address), so an attacker elsewhere cannot lock a named user
    out, and per address whatever the username, so one address cannot try many accounts.
    """
    by_user = _wait(_user_key(username, ip), settings.LOGIN_FAILURE_LIMIT) if username else 0
    by_address = _wait(_address_key(ip), settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS)
    if by_user >= by_address and by_user:
        return by_user, _("Too many failed logins for this user from this address.")
    if by_address:
        return by_address, _("Too many failed logins from this address.")
    return 0, ""


@receiver(user_login_failed, dispatch_uid="crm.security.count_login_failure")
def count_login_failure(sender, credentials, request=None, **kwargs) -> None:
    if request is None:
        return
    ip = client_ip(request)
    _count_failure(_address_key(ip))
    if credentials.get("username"):
        _count_failure(_user_key(credentials["username"], ip))


@receiver(user_logged_in, dispatch_uid="crm.security.reset_login_failures")
def reset_login_failures(sender, request, user, **kwargs) -> None:
    # Only this user's count from this address: the address's own count stays, or anyone with
    # an account could clear it between guesses at other accounts.
    if request is None:
        return
    key = _user_key(user.get_username(), client_ip(request))
    cache.delete_many([key, key + ":since"])


class _RefusedLoginForm(AdminAuthenticationForm):
    """The admin login form showing only the refusal (it authenticates nothing)."""

    def __init__(self, request, username: str, message: str):
        super().__init__(request, initial={"username": username})
        self._errors = ErrorDict({"__all__": self.error_class([message], error_class="nonfield")})


def refused_login(request, username: str, wait: int, reason: str) -> TemplateResponse:
    minutes = max(1, (wait + 59) // 60)
    message = _("%(reason)s Try again in %(minutes)d minutes.") % {
        "reason": reason,
        "minutes": minutes,
    }
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
            wait, reason = login_refusal(username, client_ip(request))
            if wait:
                return refused_login(request, username, wait, reason)
        token = current_actor.set(lambda: getattr(request, "user", None))  # lazy: see crm.audit
        try:
            return self.get_response(request)
        finally:
            current_actor.reset(token)
