"""Project-level views: health, and the Weibo → WeChat handoff page (/h/<token>)."""

import logging
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from .actions import HANDOFF_REASONS, handoff_for_token
from .handoff import handoff_oauth, handoff_qr

logger = logging.getLogger(__name__)


def _broker_status() -> str:
    if not settings.REDIS_URL:
        return "inline"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError:
        return "unreachable"
    return "ok"


def healthz(request):
    """Database and broker reachability: 200 when both answer, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:  # noqa: BLE001  any failure means unhealthy
        database = "unreachable"
    broker = _broker_status()
    healthy = database == "ok" and broker in ("ok", "inline")
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )


@never_cache  # the QR code is one person's: never a stored copy
def handoff_page(request, token: str):
    """The page a handoff link opens: the WeChat QR code issued to that one Weibo user.

    404 for a token that names no handoff, 410 for a used or expired one (with the reason in
    Chinese), 503 when WeChat could not make the code. The code itself is made at the first
    visit (crm.handoff's registered provider) and shown again on later visits. Opened inside
    WeChat (User-Agent `MicroMessenger`), the page signs the person in with OAuth instead
    (`snsapi_base`, back to `handoff_oauth`).
    """
    handoff = handoff_for_token(token)
    error, status, image = _handoff_refusal(handoff)
    if not error and "MicroMessenger" in request.META.get("HTTP_USER_AGENT", ""):
        state = secrets.token_urlsafe(16)
        callback = request.build_absolute_uri(reverse("handoff-oauth", args=[token]))
        try:
            authorize = handoff_oauth().authorize_url(handoff, callback, state)
        except LookupError:
            authorize = ""  # no sign-in available (no account): show the QR code instead
        if authorize:
            request.session["handoff_oauth_state"] = state
            return HttpResponseRedirect(authorize)
    if not error:
        assert handoff is not None  # _handoff_refusal names an error for a missing one
        try:
            image = handoff_qr(handoff)
        except (LookupError, ValidationError) as exc:
            logger.warning("handoff %s: no QR code: %s", handoff.pk, exc)
            error, status = _("The QR code cannot be shown now. Please try again later."), 503
    return render(request, "crm/handoff.html", {"error": error, "image": image}, status=status)


def _handoff_refusal(handoff) -> tuple[str, int, str]:
    if handoff is None:
        return _("This link is not valid."), 404, ""
    if handoff.used_at is not None:
        return _("This link was already used."), 410, ""
    if handoff.expired(timezone.now()):
        return _("This link has expired. Please ask us for a new one."), 410, ""
    return "", 200, ""


@never_cache
def handoff_oauth_callback(request, token: str):
    """WeChat's OAuth redirect back (code, state) for a handoff link opened inside WeChat:
    link the signed-in openid (crm.handoff's OAuth provider, crm.actions.claim_handoff_by_oauth).

    400 for a missing or wrong state or code, the page's 404/410 for a bad or spent link, 502
    when WeChat refuses the code; 200 with "linked", or 409 with the reason it was not.
    """
    handoff = handoff_for_token(token)
    expected = request.session.pop("handoff_oauth_state", None)
    state = request.GET.get("state", "")
    if not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        return render(
            request,
            "crm/handoff.html",
            {"error": _("The sign-in link has expired. Please open the page again.")},
            status=400,
        )
    error, status, _image = _handoff_refusal(handoff)
    if not error and not request.GET.get("code"):
        error, status = _("The sign-in link has expired. Please open the page again."), 400
    if not error:
        assert handoff is not None  # _handoff_refusal names an error for a missing one
        try:
            reason = handoff_oauth().link(handoff, request.GET["code"])
        except LookupError as exc:
            logger.warning("handoff %s: OAuth failed: %s", handoff.pk, exc)
            error, status = _("WeChat sign-in failed. Please try again."), 502
        else:
            if reason:
                error, status = str(HANDOFF_REASONS[reason]), 409
    return render(request, "crm/handoff.html", {"error": error, "linked": not error}, status=status)
