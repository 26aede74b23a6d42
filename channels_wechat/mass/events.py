"""MASSSENDJOBFINISH: WeChat's report of a mass job (per batch: total, filtered, sent, errors)."""

from django.db.models import Sum
from django.utils import timezone

from ..models.mass import MassSend, MassSendBatch


def _count(fields: dict, name: str) -> int | None:
    try:
        return int(str(fields.get(name, "")).strip())
    except ValueError:
        return None


def record_job_finish(account, message: dict, *, at=None, live: bool = True) -> bool:
    """Store the job's counts on its batch (matched by MsgID within the account) and the
    send's filtered total. Idempotent (a redelivered push stores the same numbers); an unknown
    MsgID is ignored. Returns False: nothing to show in a conversation. Caller's transaction."""
    fields = message.get("fields") or {}
    msg_id = str(fields.get("MsgID") or fields.get("MsgId") or "").strip()
    batch = (
        MassSendBatch.objects.filter(send__account=account, msg_id=msg_id).first()
        if msg_id
        else None
    )
    if batch is None:
        return False
    MassSendBatch.objects.filter(pk=batch.pk).update(
        total_count=_count(fields, "TotalCount"),
        filter_count=_count(fields, "FilterCount"),
        sent_count=_count(fields, "SentCount"),
        error_count=_count(fields, "ErrorCount"),
        error_code=""
        if fields.get("Status") == "send success"
        else str(fields.get("Status", ""))[:16],
        finished_at=timezone.now(),
    )
    filtered = MassSendBatch.objects.filter(send_id=batch.send_id).aggregate(f=Sum("filter_count"))
    MassSend.objects.filter(pk=batch.send_id).update(filtered=filtered["f"] or 0)
    return False
