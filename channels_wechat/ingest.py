"""From a stored WeChat push (or a history event) to followers, customers, messages and timeline.

`process_batch` is the raw-delivery processor that drains run (crm.ingestion): it processes a
batch of pushes in order, storing each run of plain messages (not events, not rating replies)
with a fixed number of queries (`ingest_messages`) and the rest one by one. `process_delivery`
processes one push (run by `crm.ingestion.run_processor`, which locks the row, so it runs once
per delivery): the sweep's retries and the pushes of a failed batch take that path. Both decrypt
and parse the push again and hand the message to the same functions the history import uses
(`ingest_message`, `ingest_event`), with the push's own CreateTime. Every write is idempotent on
WeChat's ids: MsgId for messages, FromUserName + CreateTime + Event for events (stored as the
event message's platform id), so a push delivered three times, or processed twice, has its
effect once.

Live pushes (`live=True`) also run the automation: welcome message on subscribe, keyword
auto-replies, the out-of-hours reply, and the profile fetch for new followers. Those go out
after the processing transaction commits, never inside it.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from crm.actions import record_interaction
from crm.bulk import for_update, placeholders, update_rows
from crm.identity import create_customers, resolve_customer
from crm.inbox import receive_message, receive_messages, receive_one_by_one, record_outbound
from crm.models import (
    Channel,
    Customer,
    CustomerKey,
    DeliveryStatus,
    InteractionKind,
    Message,
    SenderKind,
)
from crm.tasks_queue import enqueue_on_commit

from . import protocol
from .codes import apply_code_scan
from .media import queue_downloads
from .models import AutoReplyRule, OfficialAccount, WeChatUser

logger = logging.getLogger(__name__)

CHANNEL = Channel.WECHAT


def process_delivery(delivery) -> str:
    """Processor for raw deliveries of source "wechat"; returns the dedupe key."""
    account = OfficialAccount.objects.get(appid=delivery.account)
    message = protocol.decode_push(account, bytes(delivery.body), delivery.query or {})
    at = datetime.fromtimestamp(message["create_time"], tz=UTC)
    if message["msg_type"] == "event":
        ingest_event(account, message, at=at, live=True)
    else:
        ingest_message(account, message, at=at, live=True)
    return protocol.event_key(message)


def process_batch(deliveries) -> dict[int, str]:
    """Batch processor for raw deliveries of "wechat": each push has the effect process_delivery
    gives it, in the deliveries' order. Returns {delivery id: dedupe key} for those processed;
    a push that cannot be decoded (or names an unknown account) is left out, for run_processor
    to record its error. Caller's transaction (crm.ingestion drains hold the rows locked)."""
    appids = {d.account for d in deliveries}
    accounts = {a.appid: a for a in OfficialAccount.objects.filter(appid__in=appids)}
    keys: dict[int, str] = {}
    run: list[tuple[int, dict[str, Any], datetime]] = []
    run_account: OfficialAccount | None = None
    for delivery in deliveries:
        account = accounts.get(delivery.account)
        if account is None:
            continue
        try:
            message = protocol.decode_push(account, bytes(delivery.body), delivery.query or {})
        except protocol.ProtocolError:
            continue
        at = datetime.fromtimestamp(message["create_time"], tz=UTC)
        plain = message["msg_type"] != "event" and not receive_one_by_one(
            message["msg_type"], message.get("content", ""), message["msg_id"]
        )
        if run and (not plain or account is not run_account):
            keys.update(ingest_messages(run_account, run, live=True))
            run = []
        if plain:
            run.append((delivery.pk, message, at))
            run_account = account
        elif message["msg_type"] == "event":
            ingest_event(account, message, at=at, live=True)
            keys[delivery.pk] = protocol.event_key(message)
        else:
            ingest_message(account, message, at=at, live=True)
            keys[delivery.pk] = protocol.event_key(message)
    if run:
        keys.update(ingest_messages(run_account, run, live=True))
    return keys


def ingest_messages(
    account, run: list[tuple[Any, dict[str, Any], datetime]], *, live: bool
) -> dict[Any, str]:
    """`ingest_message` for a run of plain messages of one account (see crm.inbox.receive_messages),
    in a fixed number of queries. `run` holds (key, parsed message, time); returns {key: MsgId}.
    Caller's transaction."""
    users = lock_users(account, {m["openid"]: at for _key, m, at in reversed(run)})
    items = []
    for _key, message, at in run:
        data = dict(message.get("data") or {})
        if not message.get("known", True):
            data["unknown_type"] = True
        user = users[message["openid"]]
        items.append(
            {
                "channel": CHANNEL,
                "account": account.appid,
                "external_user": user.openid,
                "customer_id": user.customer_id,
                "msg_type": message["msg_type"],
                "content": message.get("content", ""),
                "sent_at": at,
                "platform_msg_id": message["msg_id"],
                "media_id": message.get("media_id", ""),
                "data": data,
            }
        )
    results = receive_messages(items)
    queue_downloads([stored for stored, created, _opened in results if created])
    rules = list(AutoReplyRule.objects.filter(account=account, active=True)) if live else []
    changed: dict[int, WeChatUser] = {}
    for (_key, message, at), (stored, created, opened) in zip(run, results, strict=True):
        if not created:
            continue
        user = users[message["openid"]]
        if not user.last_message_at or user.last_message_at <= at:
            user.last_message_at = at
            user.open_window(at, by_message=True)
            changed[user.pk] = user
        if live:
            text, kind = automatic_reply(account, rules, stored, opened=opened, at=at)
            if text:
                queue_automatic(stored.conversation, user, text, kind)
    update_rows(
        changed.values(), ["last_message_at", "window_expires_at", "window_quota", "window_used"]
    )
    return {key: message["msg_id"] for key, message, _at in run}


# The followers of a batch, locked in id order, in SQL written once: the ORM built the statement
# again for every batch a drain takes, about 1 ms of a worker's CPU.
_LOCK_USERS_SQL = (
    f"SELECT * FROM {WeChatUser._meta.db_table} WHERE account_id = %s AND openid IN ({{}})"  # noqa: S608  the model's table
    " ORDER BY id{}"
)


def lock_users(account: OfficialAccount, first_seen: dict[str, datetime]) -> dict[str, WeChatUser]:
    """upsert_user for many openids (no unionid): the follower rows, created if new, locked in
    id order, each linked to its customer (`customer_id`; new ones through
    crm.identity.create_customers). `first_seen` maps openid to its first time in the batch.
    Caller's transaction."""
    openids = sorted(first_seen)

    def locked(ids) -> dict[str, WeChatUser]:
        sql = _LOCK_USERS_SQL.format(placeholders(ids), for_update())
        rows = WeChatUser.objects.raw(sql, [account.pk, *ids])
        return {u.openid: u for u in rows}

    users = locked(openids)
    missing = [o for o in openids if o not in users]
    if missing:
        WeChatUser.objects.bulk_create(
            [WeChatUser(account=account, openid=o, created_at=first_seen[o]) for o in missing],
            ignore_conflicts=True,
        )
        users.update(locked(missing))
    for user in users.values():
        user.account = account
    unlinked = [u for u in users.values() if u.customer_id is None and not u.unionid]
    created = create_customers(
        channel=CHANNEL,
        people=[
            {"created_at": first_seen[u.openid], **({"name": u.nickname} if u.nickname else {})}
            for u in unlinked
        ],
    )
    for user, customer_id in zip(unlinked, created, strict=True):
        user.customer_id = customer_id
    update_rows(unlinked, ["customer"])
    # A follower with a unionid may have to join (or merge into) another customer: one by one.
    for openid, user in users.items():
        if user.unionid:
            users[openid] = attach_customer(user, at=first_seen[openid])
    return users


# --- followers and customers --------------------------------------------------------------------


def get_user(account: OfficialAccount, openid: str, *, at: datetime) -> WeChatUser:
    """The follower row, created if new, locked for the rest of the caller's transaction."""
    try:
        with transaction.atomic():
            user, _created = WeChatUser.objects.get_or_create(
                account=account, openid=openid, defaults={"created_at": at}
            )
    except IntegrityError:  # a concurrent delivery created it
        pass
    return WeChatUser.objects.select_for_update().get(account=account, openid=openid)


def attach_customer(user: WeChatUser, *, at: datetime) -> WeChatUser:
    """Link the follower to its customer: the same unionid means the same customer; otherwise a
    new customer in stage follower. Caller's transaction."""
    if user.customer_id and not user.unionid:
        return user
    if user.customer_id and user.unionid:
        owner = CustomerKey.objects.filter(kind="unionid", value=user.unionid).first()
        if owner and owner.customer_id == user.customer_id:
            return user
    customer = resolve_customer(
        channel=CHANNEL,
        keys={"unionid": user.unionid},
        customer=user.customer,
        at=at,
        defaults={"name": user.nickname} if user.nickname else {},
    )
    if customer.pk != user.customer_id:
        WeChatUser.objects.filter(pk=user.pk).update(customer=customer)
        user.customer = customer
    return user


def upsert_user(
    account: OfficialAccount, openid: str, *, at: datetime, unionid: str = ""
) -> WeChatUser:
    """Find or create the follower (learning its unionid) and its customer. Caller's transaction."""
    user = get_user(account, openid, at=at)
    if unionid and user.unionid != unionid:
        user.unionid = unionid
        WeChatUser.objects.filter(pk=user.pk).update(unionid=unionid)
    return attach_customer(user, at=at)


def customer_of(user: WeChatUser) -> Customer:
    """The follower's customer, which upsert_user always links. Raises RuntimeError if none."""
    if user.customer is None:
        raise RuntimeError(
            f"WeChat user {user.pk} has no customer (not passed through upsert_user)"
        )
    return user.customer


# --- messages -----------------------------------------------------------------------------------


def ingest_message(
    account: OfficialAccount,
    message: dict[str, Any],
    *,
    at: datetime,
    live: bool,
    unionid: str = "",
) -> bool:
    """Store a user's message in the inbox (conversation rules in crm.inbox). True if new.

    `message` has the keys of protocol.parse_message (openid, msg_type, msg_id, content,
    media_id, data). Caller's transaction.
    """
    user = upsert_user(account, message["openid"], at=at, unionid=unionid)
    data = dict(message.get("data") or {})
    if not message.get("known", True):
        data["unknown_type"] = True
    stored, created = receive_message(
        channel=CHANNEL,
        account=account.appid,
        external_user=user.openid,
        customer=customer_of(user),
        msg_type=message["msg_type"],
        content=message.get("content", ""),
        sent_at=at,
        platform_msg_id=message["msg_id"],
        media_id=message.get("media_id", ""),
        data=data,
    )
    if not created:
        return False
    queue_downloads([stored])
    if not user.last_message_at or user.last_message_at <= at:
        user.last_message_at = at
        user.open_window(at, by_message=True)
        user.save(
            update_fields=["last_message_at", "window_expires_at", "window_quota", "window_used"]
        )
    if live:
        automate_reply(account, user, stored, at=at)
    return True


def automate_reply(account: OfficialAccount, user: WeChatUser, message: Message, *, at) -> None:
    """Keyword auto-reply, else the out-of-hours reply when a conversation has just opened."""
    # A rating reply lands in the resolved conversation it rates: no automatic answer to that.
    conversation = message.conversation
    if conversation is None or conversation.status == "resolved":
        return
    earlier = conversation.messages.filter(direction="in", pk__lt=message.pk)
    rules = AutoReplyRule.objects.filter(account=account, active=True)
    text, kind = automatic_reply(
        account,
        rules if message.msg_type == "text" else [],
        message,
        opened=lambda: not earlier.exclude(msg_type="event").exists(),
        at=at,
    )
    if text:
        queue_automatic(conversation, user, text, kind)


def automatic_reply(account, rules, message: Message, *, opened, at) -> tuple[str, str]:
    """The automatic answer to an inbound message, as (text, sender kind), or ("", "").

    The first active keyword rule matching a text message; else, when the message opened its
    conversation (`opened`: a bool, or a callable asked only when needed) outside the business
    hours of the account and the conversation's team (holidays included), the out-of-hours reply.
    """
    if message.msg_type == "text":
        for rule in rules:
            if rule.matches(message.content):
                return rule.reply, SenderKind.AUTO_REPLY
    team_id = message.conversation.team_id if message.conversation is not None else None
    if account.out_of_hours_reply and not account.in_service_hours(at, team_id):
        if opened() if callable(opened) else opened:
            return account.out_of_hours_reply, SenderKind.AUTO_REPLY
    return "", ""


def queue_automatic(conversation, user: WeChatUser, text: str, kind: str) -> Message:
    """Store an automatic message as queued and send it once the transaction commits."""
    outbound = record_outbound(
        conversation,
        content=text,
        sender_kind=kind,
        delivery_status=DeliveryStatus.QUEUED,
        customer=user.customer,
        channel=CHANNEL,
        account=user.account.appid,
        external_user=user.openid,
    )
    enqueue_on_commit("channels_wechat.tasks.deliver_message_task", outbound.pk)
    return outbound


EVENT_HANDLERS: dict[str, str] = {}


def register_event_handler(event: str, path: str) -> None:
    """Let a feature module take an event (`handler(account, message, *, at, live) -> bool`,
    dotted path) instead of storing it as an inbox event message."""
    EVENT_HANDLERS[event] = path


def ingest_event(
    account: OfficialAccount,
    message: dict[str, Any],
    *,
    at: datetime,
    live: bool,
    unionid: str = "",
) -> bool:
    """Apply an event (subscribe, unsubscribe, SCAN, CLICK, ...). True if new. Caller's txn.

    The event is stored as an `event` message (shown in the conversation if one is open) keyed
    by FromUserName + CreateTime + Event, which makes a redelivery a no-op.
    """
    event = message["event"]
    if event in EVENT_HANDLERS:  # receipts and consents: nothing to show an agent
        return import_string(EVENT_HANDLERS[event])(account, message, at=at, live=live)
    user = upsert_user(account, message["openid"], at=at, unionid=unionid)
    data = dict(message.get("data") or {})
    data["event"] = event
    stored, created = receive_message(
        channel=CHANNEL,
        account=account.appid,
        external_user=user.openid,
        customer=customer_of(user),
        msg_type="event",
        content=message.get("content") or f"[{event}]",
        sent_at=at,
        platform_msg_id=protocol.event_key(message),
        data=data,
    )
    if not created:
        return False
    if event == "subscribe":
        _subscribed(account, user, stored, data, at=at, live=live)
    elif event == "unsubscribe":
        _unsubscribed(user, stored, at=at)
    elif event in ("SCAN", "CLICK"):
        user.open_window(at, by_message=False)
        user.save(update_fields=["window_expires_at", "window_quota", "window_used"])
        if event == "SCAN" and data.get("qr_scene"):
            code = apply_code_scan(
                account, user, stored, data["qr_scene"], event="scan", new_follower=False, at=at
            )
            if live and code and code.welcome_message:
                queue_automatic(None, user, code.welcome_message, SenderKind.WELCOME)
    return True


def _subscribed(account, user: WeChatUser, stored: Message, data: dict, *, at, live: bool) -> None:
    new_follower = user.subscribe_time is None  # never followed before (a re-follow is not new)
    latest = new_follower or user.subscribe_time <= at
    if latest:
        user.subscribed = True
        user.subscribe_time = at
        if data.get("qr_scene"):
            user.qr_scene = data["qr_scene"]
            user.subscribe_scene = user.subscribe_scene or "ADD_SCENE_QR_CODE"
        user.open_window(at, by_message=False)
        user.save()
    record_interaction(
        customer_of(user),
        InteractionKind.SUBSCRIBE,
        CHANNEL,
        occurred_at=at,
        summary=account.name,
        subject=stored,
        data={
            "account": account.appid,
            "openid": user.openid,
            "qr_scene": data.get("qr_scene", ""),
        },
    )
    code = None
    if data.get("qr_scene"):
        code = apply_code_scan(
            account,
            user,
            stored,
            data["qr_scene"],
            event="subscribe",
            new_follower=new_follower,
            at=at,
        )
    if not live:
        return
    # A channel code's own welcome message replaces the account's.
    welcome = (code.welcome_message if code else "") or account.welcome_message
    if welcome:
        queue_automatic(None, user, welcome, SenderKind.WELCOME)
    if user.info_fetched_at is None:
        enqueue_on_commit("channels_wechat.tasks.fetch_user_info_task", user.pk)


def _unsubscribed(user: WeChatUser, stored: Message, *, at) -> None:
    if user.subscribe_time is None or user.subscribe_time <= at:
        user.subscribed = False
        user.unsubscribe_time = at
        user.window_expires_at = at  # WeChat refuses every message to a user who left
        user.save(update_fields=["subscribed", "unsubscribe_time", "window_expires_at"])
    record_interaction(
        customer_of(user),
        InteractionKind.UNSUBSCRIBE,
        CHANNEL,
        occurred_at=at,
        summary=user.account.name,
        subject=stored,
        data={"account": user.account.appid, "openid": user.openid},
    )
