"""Celery tasks of the Weibo app: thin wrappers taking ids (JSON arguments only)."""

from celery import shared_task

from crm.ingestion import run_processor

from .models import WeiboAccount


def process_fanservice_delivery(delivery_id: int) -> str:
    from .fanservice import parse_push, process_push

    def process(delivery) -> str:
        account = WeiboAccount.objects.get(uid=delivery.account)
        return process_push(account, parse_push(bytes(delivery.body)))

    return run_processor(delivery_id, process)


@shared_task
def process_fanservice_delivery_task(delivery_id: int) -> str:
    return process_fanservice_delivery(delivery_id)


@shared_task
def poll_account_task(account_id: int) -> dict:
    from .polling import poll_account

    account = WeiboAccount.objects.filter(pk=account_id, active=True).first()
    return poll_account(account) if account else {"status": "inactive"}


@shared_task
def poll_accounts_task() -> int:
    """Fan out one poll per active account (beat runs this every few minutes)."""
    ids = list(WeiboAccount.objects.filter(active=True).values_list("pk", flat=True))
    for pk in ids:
        poll_account_task.delay(pk)
    return len(ids)


@shared_task
def snapshot_followers_task() -> int:
    from .polling import snapshot_followers

    count = 0
    for account in WeiboAccount.objects.filter(active=True):
        count += snapshot_followers(account).get("status") == "ok"
    return count


@shared_task
def publish_due_posts_task() -> int:
    from .actions import publish_due_posts

    return publish_due_posts()


@shared_task(bind=True, max_retries=None)
def download_media_task(self, message_id: int) -> str:
    """Download a fan's private-message image or voice; transient errors retried with backoff
    until crm.media.MAX_ATTEMPTS (at once when tasks run inline)."""
    from .media import download_media

    outcome = download_media(message_id)
    while outcome == "retry" and self.request.is_eager:
        outcome = download_media(message_id)
    if outcome == "retry":
        raise self.retry(countdown=min(30 * 2**self.request.retries, 600))
    return outcome


@shared_task(bind=True, max_retries=5)
def send_rule_handoff_task(self, what: str, item_id: int, rule_id: int) -> str:
    """A keyword rule's "send the WeChat handoff link" for a post or comment
    (channels_weibo.handoff.send_rule_handoff, safe to run twice); a passing platform failure
    is tried again with backoff, a refusal is recorded and not retried."""
    from .handoff import send_rule_handoff

    outcome = send_rule_handoff(what, item_id, rule_id)
    if outcome == "retry" and not self.request.is_eager:
        raise self.retry(countdown=min(60 * 2**self.request.retries, 3600))
    return outcome
