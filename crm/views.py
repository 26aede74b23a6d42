"""Project-level views: health, and the Weibo → WeChat handoff page (/h/<token>)."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from .actions import handoff_for_token
from .handoff import handoff_qr

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
    visit (crm.handoff's registered provider) and shown again on later visits.
    """
    handoff = handoff_for_token(token)
    error, status, image = "", 200, ""
    if handoff is None:
        error, status = _("This link is not valid."), 404
    elif handoff.used_at is not None:
        error, status = _("This link was already used."), 410
    elif handoff.expired(timezone.now()):
        error, status = _("This link has expired. Please ask us for a new one."), 410
    else:
        try:
            image = handoff_qr(handoff)
        except (LookupError, ValidationError) as exc:
            logger.warning("handoff %s: no QR code: %s", handoff.pk, exc)
            error, status = _("The QR code cannot be shown now. Please try again later."), 503
    return render(request, "crm/handoff.html", {"error": error, "image": image}, status=status)
