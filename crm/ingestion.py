"""Raw-first ingestion shared by every webhook: store, acknowledge, process later, never lose.

A hook verifies the request, calls `store_raw_delivery` (its own transaction: if the database is
down this raises and the hook answers 5xx so the platform retries), then `enqueue_delivery`, which
publishes the processing task after commit. If the broker is down the publish fails quietly: the
row stays `pending` and `sweep_raw_deliveries` (a beat task) publishes it again later.
Processing goes through `run_processor`, which locks the row, so a delivery processed twice, or by
two workers at once, has its effect once.

Channel apps register their processing task by name (`register_processor`) in AppConfig.ready;
crm never imports them.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .models import RawDelivery

logger = logging.getLogger(__name__)

PROCESSORS: dict[str, str] = {}
MAX_ATTEMPTS = 5
# Headers worth keeping for inspection and signature checks; cookies and auth never are.
_DROPPED_HEADERS = {"Cookie", "Authorization", "Proxy-Authorization"}


def register_processor(source: str, task_name: str) -> None:
    """Declare which Celery task processes raw deliveries of `source` (takes the delivery id)."""
    PROCESSORS[source] = task_name


def store_raw_delivery(
    *,
    source: str,
    account: str,
    request,
    body: bytes,
    status: str = RawDelivery.Status.PENDING,
    error: str = "",
) -> RawDelivery:
    """Store one delivery as received. Own transaction; database errors propagate."""
    headers = {k: v for k, v in request.headers.items() if k not in _DROPPED_HEADERS}
    with transaction.atomic():
        return RawDelivery.objects.create(
            source=source,
            account=account[:64],
            method=request.method,
            path=request.path[:255],
            query={k: v for k, v in request.GET.items()},
            headers=headers,
            body=bytes(body),
            remote_addr=request.META.get("REMOTE_ADDR", "")[:64],
            status=status,
            error=error,
        )


def store_push_once(source: str, account: str, request, body: bytes) -> RawDelivery | None:
    """Store a verified push and enqueue its processing, unless this exact signed push
    (signature, timestamp, nonce and body) was stored within the replay window: the nonce cache.
    Returns the new delivery, or None for a replay.

    The push is remembered only once stored, so one refused while the database was down is
    stored on its retry. A cache that is down counts as "not seen": the hook keeps storing and
    answering, and the dedupe on platform ids still makes a replay a no-op.
    """
    query = request.GET
    signed = "\n".join(query.get(k, "") for k in ("signature", "timestamp", "nonce"))
    digest = hashlib.sha256(signed.encode() + b"\n" + bytes(body)).hexdigest()
    key = f"push-seen:{source}:{account}:{digest}"
    try:
        if cache.get(key):
            return None
    except Exception:  # noqa: BLE001, S110  the cache (Redis) is down: store the push anyway
        pass
    delivery = store_raw_delivery(source=source, account=account, request=request, body=body)
    enqueue_delivery(delivery)
    try:
        cache.set(key, 1, settings.WEBHOOK_MAX_AGE or 300)
    except Exception:  # noqa: BLE001, S110  the cache is down: the platform-id dedupe remains
        pass
    return delivery


def _publish(source: str, delivery_id: int) -> bool:
    task_name = PROCESSORS.get(source)
    if task_name is None:
        logger.error("no processor registered for raw deliveries of %s", source)
        return False
    try:
        current_app.tasks[task_name].apply_async(args=[delivery_id], ignore_result=True)
    except Exception:  # noqa: BLE001  broker down or inline processing failed: the sweep retries
        logger.warning(
            "could not hand raw delivery %s to %s; the sweep will retry",
            delivery_id,
            task_name,
            exc_info=True,
        )
        return False
    return True


def enqueue_delivery(delivery: RawDelivery) -> None:
    """Publish the processing task once the current transaction (if any) commits."""
    source, pk = delivery.source, delivery.pk
    transaction.on_commit(lambda: _publish(source, pk))


def run_processor(delivery_id: int, process: Callable[[RawDelivery], str | None]) -> str:
    """Run `process` on a stored delivery exactly once; returns the delivery's final status.

    The row is locked for the whole run, so concurrent runs wait and then see it processed.
    `process` returns an optional dedupe key to store. Its exceptions mark the row `failed` (the
    sweep retries it up to MAX_ATTEMPTS times) and are logged, not raised.
    """
    with transaction.atomic():
        delivery = RawDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return "missing"
        if delivery.status in (RawDelivery.Status.PROCESSED, RawDelivery.Status.REJECTED):
            return delivery.status
        delivery.attempts += 1
        try:
            with transaction.atomic():
                dedupe_key = process(delivery)
        except Exception as exc:  # noqa: BLE001  recorded on the row, retried by the sweep
            logger.exception("processing raw delivery %s failed", delivery_id)
            delivery.status = RawDelivery.Status.FAILED
            delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
            delivery.save(update_fields=["status", "error", "attempts"])
            return delivery.status
        delivery.status = RawDelivery.Status.PROCESSED
        delivery.processed_at = timezone.now()
        delivery.error = ""
        delivery.dedupe_key = (dedupe_key or "")[:128]
        delivery.save(update_fields=["status", "processed_at", "error", "dedupe_key", "attempts"])
        return delivery.status


def mark_delivery(delivery_id: int, status: str, error: str = "", dedupe_key: str = "") -> None:
    """Set a delivery's outcome directly (for processors that work in batches)."""
    fields: dict[str, object] = {
        "status": status,
        "error": error[:2000],
        "dedupe_key": dedupe_key[:128],
    }
    if status == RawDelivery.Status.PROCESSED:
        fields["processed_at"] = timezone.now()
    RawDelivery.objects.filter(pk=delivery_id).update(**fields)


def sweep_raw_deliveries(older_than_seconds: int = 30, limit: int = 1000) -> int:
    """Publish again the deliveries still pending (or failed, under MAX_ATTEMPTS) after a while.

    Returns how many were handed to their processor.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    rows = list(
        RawDelivery.objects.filter(received_at__lt=cutoff, source__in=list(PROCESSORS))
        .filter(
            status__in=[RawDelivery.Status.PENDING, RawDelivery.Status.FAILED],
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("received_at", "id")
        .values_list("pk", "source")[:limit]
    )
    return sum(1 for pk, source in rows if _publish(source, pk))
