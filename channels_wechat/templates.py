"""Template messages (模板消息) and subscription messages (订阅通知): sync, send, report.

The public action other features call is `send_template_message`; the admin and the member
notices (channels_wechat.template_notices) use it too. Sending goes one recipient at a time
through `deliver_due_sends` (the task `send_template_messages_task`), which is safe to run twice
and to kill at any point:

- each recipient's intent (a TemplateSend row, unique `key`) is committed before WeChat is
  called; the row is claimed (`sending`, with a lease in `next_attempt_at`) in its own
  transaction, WeChat gets the key as `client_msg_id` (one message per openid + client_msg_id),
  and the outcome is written after. A worker killed mid-call leaves the row `sending`; once the
  lease ends the next run sends it again with the same client_msg_id, so WeChat delivers it once.
- per-recipient refusals (43004 not following, 40003 bad openid, 43101 no consent, 40037, 47003)
  fail the row and are never retried; -1, HTTP 5xx and network errors are retried with backoff
  (RETRY_BACKOFF) up to MAX_ATTEMPTS; 45009 (the API's daily limit) holds the recipient and
  every other pending one of the account until the next day (midnight, Beijing time), nothing
  dropped.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from crm.inbox import SendError
from crm.tasks_queue import enqueue_on_commit

from .models import (
    MessageTemplate,
    OfficialAccount,
    SubscribeConsent,
    TemplateBinding,
    TemplateSend,
    WeChatUser,
)
from .template_client import TemplateClient
from .template_rules import check_data

logger = logging.getLogger(__name__)

SEND_TASK = "channels_wechat.tasks.send_template_messages_task"
MAX_ATTEMPTS = 5
RETRY_BACKOFF = (30, 120, 600, 3600)  # seconds after the 1st, 2nd, ... transient failure
DAILY_LIMIT = "45009"
TRANSIENT = {"-1", "network", "token_timeout", "bad_response"}
Status = TemplateSend.Status


# --- templates ----------------------------------------------------------------------------------


def sync_templates(account: OfficialAccount) -> dict[str, int]:
    """Copy the account's templates from WeChat: template messages
    (`template/get_all_private_template`) and subscription templates (`wxaapi/newtmpl/gettemplate`).

    New ones are added, known ones updated, ones WeChat no longer lists made inactive (kept:
    sends point at them). Raises ValidationError with WeChat's errcode if a list cannot be read;
    nothing is changed then. One transaction. Returns {"added", "updated", "deactivated"}.
    """
    client = TemplateClient(account)
    try:
        listed = [(MessageTemplate.Kind.TEMPLATE, t) for t in client.private_templates()]
        listed += [(MessageTemplate.Kind.SUBSCRIBE, t) for t in client.subscribe_templates()]
    except SendError as exc:
        raise ValidationError(
            _("WeChat refused the template list: %(code)s %(message)s")
            % {"code": exc.code, "message": exc.message}
        ) from None
    now = timezone.now()
    counts = {"added": 0, "updated": 0, "deactivated": 0}
    with transaction.atomic():
        seen = []
        for kind, item in listed:
            template_id = item.get("template_id") or item.get("priTmplId") or ""
            content = item.get("content", "")
            values = {
                "kind": kind,
                "title": item.get("title", "")[:128],
                "primary_industry": item.get("primary_industry", "")[:64],
                "deputy_industry": item.get("deputy_industry", "")[:64],
                "content": content,
                "example": item.get("example", ""),
                "variables": MessageTemplate.parse_variables(content),
                "long_term": kind == MessageTemplate.Kind.SUBSCRIBE
                and str(item.get("type")) == "3",
                "active": True,
                "synced_at": now,
            }
            _row, created = MessageTemplate.objects.update_or_create(
                account=account, template_id=template_id, defaults=values
            )
            counts["added" if created else "updated"] += 1
            seen.append(template_id)
        counts["deactivated"] = (
            MessageTemplate.objects.filter(account=account, active=True)
            .exclude(template_id__in=seen)
            .update(active=False)
        )
    return counts


def add_library_template(
    account: OfficialAccount, short_id: str, keyword_names: list[str] | None = None
) -> MessageTemplate:
    """Add a template from WeChat's library (`template/api_add_template` with its short id, e.g.
    TM00015 or a new-style number with `keyword_names`) and sync. Raises ValidationError on the
    `short_id` field with WeChat's errcode (40037 unknown, 45026 the account holds 25 already)."""
    short_id = (short_id or "").strip()
    if not short_id:
        raise ValidationError({"short_id": _("The library template number is required.")})
    try:
        template_id = TemplateClient(account).add_template(short_id, keyword_names)
    except SendError as exc:
        raise ValidationError(
            {
                "short_id": _("WeChat refused the template: %(code)s %(message)s")
                % {"code": exc.code, "message": exc.message}
            }
        ) from None
    sync_templates(account)
    return MessageTemplate.objects.get(account=account, template_id=template_id)


# --- sending ------------------------------------------------------------------------------------

Data = dict[str, str] | Callable[[WeChatUser], dict[str, str]]


def _recipients(account: OfficialAccount, recipients: Iterable[WeChatUser | str]) -> list:
    users, openids = [], []
    for recipient in recipients:
        if isinstance(recipient, WeChatUser):
            users.append(recipient)
        else:
            openids.append(str(recipient))
    if openids:
        known = {
            u.openid: u for u in WeChatUser.objects.filter(account=account, openid__in=openids)
        }
        users.extend(known.get(o) or WeChatUser(account=account, openid=o) for o in openids)
    return users


def send_template_message(
    template: MessageTemplate,
    recipients: Iterable[WeChatUser | str],
    data: Data,
    *,
    url: str = "",
    miniprogram: dict[str, str] | None = None,
    batch: str = "",
    key: str = "",
    notice: str = "",
) -> str:
    """Send a template message (or, for a subscription template, a subscription message) to each
    recipient, once. Returns the send job's id (`batch`), which TemplateSend rows carry and the
    report (`send_report`) is read by.

    `recipients`: followers of the template's account (WeChatUser rows or openids).
    `data`: {variable: value} for everyone, or a function of the follower giving it.
    `url` / `miniprogram` ({"appid", "pagepath"}): where the message leads (optional).
    `batch`: the job id (a new one if empty); with `key` (a single recipient only, e.g.
    "notice:order_paid:42") the row's idempotency key; otherwise `<batch>:<openid>`. Calling again
    with the same batch or key adds nothing twice.

    Checked before anything is stored, raising ValidationError: the template is active; every
    variable of the template has a value within WeChat's limits for every recipient (the error
    names the variable: {"thing1": "thing1: at most 20 characters"}). Nothing is stored then.

    Transaction: the rows are written in one; the sending runs after commit in
    `send_template_messages_task` (see the module docstring for errors and retries).
    """
    if not template.active:
        raise ValidationError({"template": _("This template is no longer at WeChat.")})
    account = template.account
    users = _recipients(account, recipients)
    if key and len(users) != 1:
        raise ValidationError({"key": _("A key names the send to one recipient.")})
    batch = batch or uuid.uuid4().hex
    rows = []
    for user in users:
        values = {k: str(v) for k, v in (data(user) if callable(data) else data).items()}
        problems = check_data(template.variables, values)
        if problems:
            raise ValidationError(
                {name: f"{name}: {_(reason)}" for name, reason in sorted(problems.items())}
            )
        rows.append(
            TemplateSend(
                account=account,
                kind=template.kind,
                template=template,
                user=user if user.pk else None,
                openid=user.openid,
                customer_id=user.customer_id,
                key=key or f"{batch}:{user.openid}",
                batch=batch,
                notice=notice,
                data={name: values[name] for name in template.variables},
                url=url,
                miniprogram=miniprogram or {},
            )
        )
    with transaction.atomic():
        TemplateSend.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        enqueue_on_commit(SEND_TASK, batch)
    return batch


def next_day(now: datetime) -> datetime:
    """WeChat's daily API quotas reset at midnight, Beijing time."""
    local = timezone.localtime(now)
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _due(now: datetime) -> Q:
    return Q(status__in=[Status.PENDING, Status.HELD, Status.SENDING]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _claim(pk: int, now: datetime) -> TemplateSend | None:
    """Take one due row for this worker (committed before WeChat is called)."""
    with transaction.atomic():
        row = (
            TemplateSend.objects.select_for_update(skip_locked=True)
            .select_related("template", "account")
            .filter(_due(now), pk=pk)
            .first()
        )
        if row is None:
            return None
        if row.kind == MessageTemplate.Kind.SUBSCRIBE and not _use_consent(row, now):
            row.status, row.error_code = Status.FAILED, "43101"
            row.error_message = "no subscription consent left"
            row.save(update_fields=["status", "error_code", "error_message"])
            return None
        row.status, row.attempts = Status.SENDING, row.attempts + 1
        row.next_attempt_at = now + timedelta(seconds=settings.WECHAT_TEMPLATE_LEASE_SECONDS)
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
    return row


def _use_consent(row: TemplateSend, now: datetime) -> bool:
    """Use up one of the follower's consents (a resumed row already used its own)."""
    if row.status == Status.SENDING:
        return True
    consent = (
        SubscribeConsent.objects.select_for_update()
        .filter(account=row.account, user__openid=row.openid, template_id=row.template.template_id)
        .first()
    )
    if consent is None or not consent.usable:
        return False
    if not consent.long_term:
        SubscribeConsent.objects.filter(pk=consent.pk).update(
            remaining=F("remaining") - 1, updated_at=now
        )
    return True


def _give_back_consent(row: TemplateSend) -> None:
    if row.kind == MessageTemplate.Kind.SUBSCRIBE:
        SubscribeConsent.objects.filter(
            account=row.account,
            user__openid=row.openid,
            template_id=row.template.template_id,
            long_term=False,
        ).update(remaining=F("remaining") + 1)


def _call(client: TemplateClient, row: TemplateSend) -> str:
    if row.kind == MessageTemplate.Kind.SUBSCRIBE:
        return client.send_subscribe(
            row.openid,
            row.template.template_id,
            row.data,
            page=row.url,
            miniprogram=row.miniprogram or None,
        )
    return client.send_template(
        row.openid,
        row.template.template_id,
        row.data,
        url=row.url,
        miniprogram=row.miniprogram or None,
        client_msg_id=row.key[:64],
    )


def _record_failure(row: TemplateSend, exc: SendError, now: datetime) -> bool:
    """Store a refused send. True when the account hit its daily limit (stop for today)."""
    code = str(exc.code)
    fields: dict[str, Any] = {"error_code": code[:16], "error_message": exc.message[:255]}
    if code == DAILY_LIMIT:
        resume = next_day(now)
        with transaction.atomic():
            _give_back_consent(row)
            TemplateSend.objects.filter(pk=row.pk).update(
                status=Status.HELD, next_attempt_at=resume, attempts=F("attempts") - 1, **fields
            )
            TemplateSend.objects.filter(
                account=row.account, kind=row.kind, status=Status.PENDING
            ).update(status=Status.HELD, next_attempt_at=resume)
        return True
    transient = exc.transient or code in TRANSIENT or code.startswith("http_5")
    with transaction.atomic():
        if transient and row.attempts < MAX_ATTEMPTS:
            delay = RETRY_BACKOFF[min(row.attempts, len(RETRY_BACKOFF)) - 1]
            _give_back_consent(row)
            TemplateSend.objects.filter(pk=row.pk).update(
                status=Status.PENDING, next_attempt_at=now + timedelta(seconds=delay), **fields
            )
        else:
            if code != "43101":
                _give_back_consent(row)
            else:  # WeChat says the follower has no consent: none left here either
                SubscribeConsent.objects.filter(
                    account=row.account,
                    user__openid=row.openid,
                    template_id=row.template.template_id,
                ).update(remaining=0, long_term=False)
            TemplateSend.objects.filter(pk=row.pk).update(
                status=Status.FAILED, next_attempt_at=None, **fields
            )
    return False


def deliver_due_sends(batch: str = "", *, now: datetime | None = None, limit: int = 1000) -> dict:
    """Send the due rows (of one job, or all), one recipient at a time. Safe to run twice at
    once (rows are claimed with SKIP LOCKED) and after a killed run. Call it outside a
    transaction: it waits on WeChat. Returns {"sent", "failed", "held", "retry"} for this run."""
    now = now or timezone.now()
    due = TemplateSend.objects.filter(_due(now))
    if batch:
        due = due.filter(batch=batch)
    ids = list(due.order_by("pk").values_list("pk", flat=True)[:limit])
    counts = {"sent": 0, "failed": 0, "held": 0, "retry": 0}
    clients: dict[int, TemplateClient] = {}
    stopped: set[tuple[int, str]] = set()
    for pk in ids:
        row = _claim(pk, now)
        if row is None:
            continue
        if (row.account_id, row.kind) in stopped:  # hit the daily limit earlier in this run
            TemplateSend.objects.filter(pk=row.pk).update(
                status=Status.HELD, next_attempt_at=next_day(now), attempts=F("attempts") - 1
            )
            counts["held"] += 1
            continue
        client = clients.setdefault(row.account_id, TemplateClient(row.account))
        try:
            msgid = _call(client, row)
        except SendError as exc:
            if _record_failure(row, exc, now):
                stopped.add((row.account_id, row.kind))
                counts["held"] += 1
            else:
                row.refresh_from_db(fields=["status"])
                counts["retry" if row.status == Status.PENDING else "failed"] += 1
            continue
        TemplateSend.objects.filter(pk=row.pk).update(
            status=Status.SENT,
            msgid=msgid,
            sent_at=timezone.now(),
            next_attempt_at=None,
            error_code="",
            error_message="",
        )
        counts["sent"] += 1
    return counts


# --- delivery reports ---------------------------------------------------------------------------


def record_delivery(account: OfficialAccount, openid: str, msgid: str, status: str, at) -> int:
    """Store WeChat's delivery status (TEMPLATESENDJOBFINISH / subscribe_msg_sent_event) on the
    send with this MsgID. Idempotent; returns the rows changed (0 for a send not ours)."""
    if not msgid:
        return 0
    return TemplateSend.objects.filter(account=account, openid=openid, msgid=msgid).update(
        delivery=status[:32], delivered_at=at
    )


def send_report(batch: str) -> dict[str, Any]:
    """A send job's figures: recipients, sent, failed by error code, held, pending, and the
    delivery statuses WeChat reported (TEMPLATESENDJOBFINISH), each a count."""
    rows = TemplateSend.objects.filter(batch=batch)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    failed = dict(
        rows.filter(status=Status.FAILED)
        .values_list("error_code")
        .annotate(n=Count("id"))
        .values_list("error_code", "n")
    )
    delivery = dict(
        rows.exclude(delivery="")
        .values_list("delivery")
        .annotate(n=Count("id"))
        .values_list("delivery", "n")
    )
    return {
        "recipients": sum(by_status.values()),
        "sent": by_status.get(Status.SENT, 0),
        "failed": by_status.get(Status.FAILED, 0),
        "failed_by_reason": dict(sorted(failed.items())),
        "held": by_status.get(Status.HELD, 0),
        "pending": by_status.get(Status.PENDING, 0) + by_status.get(Status.SENDING, 0),
        "delivery": dict(sorted(delivery.items())),
    }


# --- bindings -----------------------------------------------------------------------------------


def render_binding(binding: TemplateBinding, fields: dict[str, Any]) -> dict[str, str]:
    """The template data of a notice: each variable's mapped field (or `text:` literal).
    Raises ValidationError naming the variable whose field is not mapped or has no value."""
    data, problems = {}, {}
    for name in binding.template.variables:
        source = (binding.mapping or {}).get(name, "")
        if source.startswith("text:"):
            data[name] = source[len("text:") :]
        elif not source:
            problems[name] = f"{name}: " + _("no field is mapped to this variable")
        elif fields.get(source) in (None, ""):
            problems[name] = f"{name}: " + _("the field %(field)s has no value") % {"field": source}
        else:
            data[name] = str(fields[source])
    if problems:
        raise ValidationError(problems)
    return data


def link_for(binding: TemplateBinding, fields: dict[str, Any]) -> str:
    """The binding's link with {field} placeholders filled (unknown ones left empty)."""
    if not binding.url:
        return ""

    class _Fields(dict):
        def __missing__(self, key):
            return ""

    return binding.url.format_map(_Fields({k: str(v) for k, v in fields.items()}))


# The fields a notice may carry, for the binding admin's choices (members.tasks fills them).
NOTICE_FIELDS = {
    "customer_name": _lazy("Customer name"),
    "member_number": _lazy("Member number"),
    "points_balance": _lazy("Points balance"),
    "points_change": _lazy("Points change"),
    "points_reason": _lazy("Points reason"),
    "points_changed_at": _lazy("Points changed at"),
    "order_no": _lazy("Order number"),
    "order_amount": _lazy("Order amount"),
    "order_paid_at": _lazy("Order paid at"),
    "store_name": _lazy("Store"),
    "refund_amount": _lazy("Refund amount"),
    "refunded_at": _lazy("Refunded at"),
    "refund_reason": _lazy("Refund reason"),
    "coupon_name": _lazy("Coupon name"),
    "coupon_code": _lazy("Coupon code"),
    "coupon_issued_at": _lazy("Coupon issued at"),
    "coupon_expires_at": _lazy("Coupon expires on"),
    "days_left": _lazy("Days left"),
    "member_url": _lazy("Member page link"),
    "coupons_url": _lazy("Coupons page link"),
    "orders_url": _lazy("Orders page link"),
    "points_url": _lazy("Points page link"),
}


BINDING_FIELDS = ("url", "miniprogram_appid", "miniprogram_path", "active")


def save_binding(
    account: OfficialAccount,
    notice: str,
    template: MessageTemplate,
    mapping: dict[str, str],
    *,
    binding: TemplateBinding | None = None,
    **options: Any,
) -> TemplateBinding:
    """Create or change which template a notice uses on an account and how its variables are
    filled. `mapping` {variable: notice field | "text:<fixed text>"} must cover every variable of
    the template with a known field (NOTICE_FIELDS above); a fixed
    text must itself fit the variable's limit. `options`: url, miniprogram_appid,
    miniprogram_path, active.

    Raises ValidationError naming the field (`template`, `notice`, or the variable); nothing is
    written then. One transaction.
    """
    from .template_rules import check_value

    errors: dict[str, str] = {}
    if template.account_id != account.pk:
        errors["template"] = _("The template belongs to another account.")
    elif template.kind != MessageTemplate.Kind.TEMPLATE:
        errors["template"] = _("Notices use template messages, not subscription templates.")
    elif not template.active:
        errors["template"] = _("This template is no longer at WeChat.")
    clash = TemplateBinding.objects.filter(account=account, notice=notice)
    if binding is not None:
        clash = clash.exclude(pk=binding.pk)
    if clash.exists():
        errors["notice"] = _("This notice already has a template on this account.")
    clean: dict[str, str] = {}
    for name in template.variables if "template" not in errors else []:
        source = str((mapping or {}).get(name, "")).strip()
        if source.startswith("text:"):
            reason = check_value(name, source[len("text:") :])
            if reason:
                errors[name] = f"{name}: {_(reason)}"
        elif source not in NOTICE_FIELDS:
            errors[name] = f"{name}: " + _("choose a field or write a fixed text")
        clean[name] = source
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        binding = binding or TemplateBinding(account=account)
        binding.account, binding.notice, binding.template = account, notice, template
        binding.mapping = clean
        for field in BINDING_FIELDS:
            if field in options:
                setattr(binding, field, options[field])
        binding.save()
    return binding
