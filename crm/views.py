"""Project-level views: health."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


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
