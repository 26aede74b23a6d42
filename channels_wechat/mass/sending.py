"""Sending a planned mass send, batch by batch, exactly once per recipient.

Each batch is sent inside a transaction that holds its row lock (`SELECT ... FOR UPDATE SKIP
LOCKED`) from before the API call until its result is stored: two workers never send the same
batch, and a worker killed during the call rolls back, leaving the batch pending. The next run
sends it again with the same `clientmsgid`; if WeChat had taken the first call it answers 45065
with that job's msg_id and sends nothing, so the batch is recorded as sent: every recipient gets
the message once.

Errors:
- 45009 (daily API limit) and 45028 (no mass quota): the batch and the recipients left stay
  pending; the send waits (`waiting`) until the next local midnight.
- 40003 (an openid that is not a follower): each openid of the batch is checked (`user/info`);
  the bad ones fail with their errcode, the rest go into new batches. 40130 (a single openid
  left: WeChat wants 2 to 10,000) fails that recipient.
- other permanent errors (40007 bad media, 44004 empty...) fail the batch's recipients with the
  errcode; they are not retried.
- transient errors (-1, HTTP 5xx, network) are retried by the client with backoff; if they
  persist the batch stays pending and the send is tried again after a growing delay.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from crm.inbox import SendError

from ..mass_client import WAIT_ERRORS, DuplicateSend, MassClient
from ..models.mass import MassSend, MassSendBatch, MassSendRecipient, WeChatTag
from .content import message_body
from .planning import batch_pending, plan_send, release_deferred

logger = logging.getLogger(__name__)

Status = MassSendRecipient.Status
RUNNING = (MassSend.Status.SCHEDULED, MassSend.Status.SENDING, MassSend.Status.WAITING)
RETRY_MINUTES = (1, 5, 15, 60)


class Wait(Exception):
    """The platform says: not now (daily limit or quota)."""


def next_midnight(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def run_send(send_id: int, now: datetime | None = None) -> str:
    """Plan (first time) and send every due batch of a started send; returns its status.

    A send that is not started (draft, approved but not started) or not approved is refused:
    "not started". Safe to run twice at once (batches are locked one by one).
    """
    now = now or timezone.now()
    send = MassSend.objects.select_related("account").get(pk=send_id)
    if send.status not in RUNNING or send.approved_by_id is None:
        return "not started"
    if send.scheduled_at and send.scheduled_at > now:
        return "not due"
    if send.next_attempt_at and send.next_attempt_at > now:
        return "waiting"
    send = plan_send(send, now)
    with transaction.atomic():
        if release_deferred(send, now):
            batch_pending(send)
    client = MassClient(send.account)
    message = message_body(send, client) if send.targeted else {}
    wechat_tag = None
    if send.use_sendall:
        wechat_tag = WeChatTag.objects.get(account_id=send.account_id, tag=send.tag)
    try:
        while send_next_batch(send, client, message, wechat_tag):
            if MassSend.objects.filter(pk=send.pk, status=MassSend.Status.CANCELLED).exists():
                break
    except Wait as exc:
        MassSend.objects.filter(pk=send.pk).exclude(status=MassSend.Status.CANCELLED).update(
            status=MassSend.Status.WAITING, next_attempt_at=next_midnight(now), last_error=str(exc)
        )
        return refresh_totals(send)
    except SendError as exc:  # transient, after the client's own retries
        attempts = (
            MassSendBatch.objects.filter(send=send, status=MassSendBatch.Status.PENDING).aggregate(
                a=Max("attempts")
            )["a"]
            or 1
        )
        delay = RETRY_MINUTES[min(attempts, len(RETRY_MINUTES)) - 1]
        MassSend.objects.filter(pk=send.pk).update(
            next_attempt_at=now + timedelta(minutes=delay),
            last_error=f"{exc.code} {exc.message}"[:255],
        )
        return refresh_totals(send)
    return refresh_totals(send, finish=True)


def send_next_batch(send: MassSend, client: MassClient, message: dict, wechat_tag) -> bool:
    """Send the first pending batch; False when none is left. Raises Wait or (transient)
    SendError once the batch, still pending, has its attempt counted."""
    error: Exception | None = None
    with transaction.atomic():
        batch = (
            MassSendBatch.objects.select_for_update(skip_locked=True)
            .filter(send=send, status=MassSendBatch.Status.PENDING)
            .order_by("seq")
            .first()
        )
        if batch is None:
            return False
        openids = list(
            MassSendRecipient.objects.filter(batch=batch, status=Status.PENDING)
            .order_by("id")
            .values_list("openid", flat=True)
        )
        batch.attempts += 1
        MassSendBatch.objects.filter(pk=batch.pk).update(attempts=batch.attempts)
        try:
            if wechat_tag is not None:
                result = client.mass_sendall(wechat_tag.wechat_id, message, batch.clientmsgid)
            else:
                result = client.mass_send(openids, message, batch.clientmsgid)
            _sent(batch, str(result.get("msg_id", "")))
        except DuplicateSend as exc:  # WeChat already has this batch: sent by a killed run
            _sent(batch, exc.msg_id)
        except SendError as exc:
            if exc.code in WAIT_ERRORS:
                error = Wait(f"{exc.code} {exc.message}"[:255])
            elif exc.transient:
                error = exc
            else:
                _refused(batch, exc, client)
    if error is not None:
        raise error
    return True


def _sent(batch: MassSendBatch, msg_id: str) -> None:
    now = timezone.now()
    MassSendBatch.objects.filter(pk=batch.pk).update(
        status=MassSendBatch.Status.SENT, msg_id=msg_id, sent_at=now
    )
    done = MassSendRecipient.objects.filter(batch=batch, status=Status.PENDING).update(
        status=Status.SENT, sent_at=now
    )
    # Progress for the admin while the send runs (refresh_totals recounts at the end).
    MassSend.objects.filter(pk=batch.send_id).update(sent=F("sent") + done)


def _refused(batch: MassSendBatch, exc: SendError, client: MassClient) -> None:
    pending = MassSendRecipient.objects.filter(batch=batch, status=Status.PENDING)
    if exc.code == "40003" and pending.count() > 1:
        bad: dict[str, str] = {}
        for openid in pending.values_list("openid", flat=True):
            try:
                info = client.user_info(openid)
            except SendError as check:
                if not check.transient:
                    bad[openid] = check.code
                continue
            if not info.get("subscribe"):
                bad[openid] = "unsubscribed"
        if bad:
            for code in set(bad.values()):
                openids = [o for o, c in bad.items() if c == code]
                pending.filter(openid__in=openids).update(status=Status.FAILED, error_code=code)
            MassSendRecipient.objects.filter(batch=batch, status=Status.PENDING).update(batch=None)
            MassSendBatch.objects.filter(pk=batch.pk).update(
                status=MassSendBatch.Status.SPLIT, error_code=exc.code
            )
            batch_pending(batch.send)
            return
    pending.update(status=Status.FAILED, error_code=exc.code)
    MassSendBatch.objects.filter(pk=batch.pk).update(
        status=MassSendBatch.Status.FAILED, error_code=exc.code
    )
    logger.warning("mass send batch %s refused: %s", batch.clientmsgid, exc.code)


def refresh_totals(send: MassSend, finish: bool = False) -> str:
    """Store the send's counts from its recipients and batches; finish it when nothing is left
    (or wait for the deferred ones). Returns the status."""
    with transaction.atomic():
        send = MassSend.objects.select_for_update().get(pk=send.pk)
        by_status = dict(
            MassSendRecipient.objects.filter(send=send)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        send.sent = by_status.get(Status.SENT, 0)
        send.failed = by_status.get(Status.FAILED, 0)
        send.deferred = by_status.get(Status.DEFERRED, 0)
        send.filtered = (
            MassSendBatch.objects.filter(send=send).aggregate(f=Sum("filter_count"))["f"] or 0
        )
        if finish and send.status in RUNNING:
            if send.deferred:
                first = (
                    MassSendRecipient.objects.filter(send=send, status=Status.DEFERRED)
                    .order_by("not_before")
                    .values_list("not_before", flat=True)
                    .first()
                )
                send.status, send.next_attempt_at = MassSend.Status.WAITING, first
            elif not by_status.get(Status.PENDING):
                send.status, send.finished_at = MassSend.Status.DONE, timezone.now()
                send.next_attempt_at = None
            else:
                send.next_attempt_at = None
        send.save()
    return send.status


def due_sends(now: datetime | None = None) -> list[int]:
    """Ids of started sends whose time has come (scheduled, waiting or interrupted)."""
    now = now or timezone.now()
    sends = MassSend.objects.filter(status__in=RUNNING, approved_by__isnull=False)
    sends = sends.exclude(scheduled_at__gt=now).exclude(next_attempt_at__gt=now)
    return list(sends.order_by("pk").values_list("pk", flat=True))
