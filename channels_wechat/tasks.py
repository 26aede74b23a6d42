"""Celery tasks of the WeChat channel: thin wrappers, ids in, safe to run twice."""

from celery import shared_task

from crm.ingestion import run_processor


@shared_task
def process_wechat_delivery_task(delivery_id: int) -> str:
    """Process one stored push (crm.ingestion locks the row: once per delivery)."""
    from .ingest import process_delivery

    return run_processor(delivery_id, process_delivery)


@shared_task
def deliver_message_task(message_id: int) -> str:
    """Send a queued automatic message (welcome, auto-reply); a sent one is left alone."""
    from crm.inbox import SendError, deliver
    from crm.models import DeliveryStatus, Message

    message = Message.objects.filter(pk=message_id, delivery_status=DeliveryStatus.QUEUED).first()
    if message is None:
        return "skipped"
    try:
        deliver(message)
    except SendError as exc:  # stored on the message as failed; transient ones were retried
        return f"failed {exc.code}"
    return "sent"


@shared_task
def fetch_user_info_task(user_id: int) -> bool:
    from .actions import fetch_user_info

    return fetch_user_info(user_id)


@shared_task
def run_mass_send_task(send_id: int) -> str:
    """Plan and send a started mass send (exactly once per recipient; safe to run twice)."""
    from .mass.sending import run_send

    return run_send(send_id)


@shared_task
def send_due_mass_sends_task() -> int:
    """Beat: queue every started mass send whose time has come (scheduled, waiting, resumed)."""
    from .mass.sending import due_sends

    due = due_sends()
    for send_id in due:
        run_mass_send_task.delay(send_id)
    return len(due)


@shared_task
def push_wechat_tags_task() -> int:
    """Beat: make every mirrored WeChat tag's members match the CRM (tags_sync.push_tag)."""
    from crm.inbox import SendError

    from .models import WeChatTag
    from .tags_sync import push_tag

    pushed = 0
    for linked in WeChatTag.objects.select_related("account", "tag"):
        try:
            push_tag(linked.account, linked.tag)
            pushed += 1
        except SendError:  # logged by the client; the next run tries again
            continue
    return pushed


@shared_task
def send_template_messages_task(batch: str = "") -> dict:
    """Send the due template and subscription messages (of one job, or every job: the beat)."""
    from .templates import deliver_due_sends

    return deliver_due_sends(batch)


DEFER_SECONDS = 5


@shared_task(bind=True, max_retries=None)
def download_media_task(self, message_id: int) -> str:
    """Download a message's picture, voice or video; a transient error is retried with backoff
    (30 s, 60 s, 120 s...) until crm.media.MAX_ATTEMPTS, counted on the media row. While a
    backlog of pushes waits to be processed, downloads wait for it (media must not slow the
    processing of messages; WeChat keeps the files 3 days)."""
    from .media import download_media, ingestion_backlog

    if not self.request.is_eager and ingestion_backlog():
        # Messages are waiting to be processed: they go first. Try again in a few seconds
        # (not an attempt: nothing failed).
        download_media_task.apply_async(args=[message_id], countdown=DEFER_SECONDS)
        return "deferred"
    outcome = download_media(message_id)
    # Inline tasks (the demo without Redis, the tests) have no broker to retry later: retry
    # at once; the attempts counted on the row bound it.
    while outcome == "retry" and self.request.is_eager:
        outcome = download_media(message_id)
    if outcome == "retry":
        raise self.retry(countdown=min(30 * 2**self.request.retries, 600))
    return outcome


@shared_task(bind=True)
def download_media_batch_task(self, message_ids: list[int]) -> dict[str, int]:
    """Download the media of one processed batch, one after the other; a transient failure goes
    on in its own `download_media_task` (with backoff). Waits, as download_media_task does,
    while a backlog of pushes is pending."""
    from .media import download_media, ingestion_backlog

    if not self.request.is_eager and ingestion_backlog():
        download_media_batch_task.apply_async(args=[message_ids], countdown=DEFER_SECONDS)
        return {"deferred": len(message_ids)}
    outcomes: dict[str, int] = {}
    for message_id in message_ids:
        outcome = download_media(message_id)
        while outcome == "retry" and self.request.is_eager:
            outcome = download_media(message_id)
        if outcome == "retry":
            download_media_task.apply_async(args=[message_id], countdown=30)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task
def sweep_media_task() -> int:
    """Queue again the downloads still pending after five minutes (a lost task); expire those
    past WeChat's 3 days."""
    from crm.media import stale_pending
    from crm.tasks_queue import publish

    ids = stale_pending("wechat")
    for message_id in ids:
        publish("channels_wechat.tasks.download_media_task", message_id)
    return len(ids)
