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
