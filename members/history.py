"""History import for the members app: `order` and `member_join` events (DESIGN.md section 4).

`HANDLERS[event["type"]](event)` feeds one event through the same actions as live traffic
(`join_membership`, `create_order` + `mark_order_paid`), with the event's own timestamp, and
returns "created" or "duplicate" (idempotent: an order by `out_trade_no`, a join by customer).
A bad event raises ValueError with one line saying what is wrong, and writes nothing.

The customer is found or created by `crm.identity.resolve_customer` from `unionid` and/or
`phone` (strong keys; at least one is required). Optional `name` and `city` fill a new customer.

`order` fields:
- `ts` (ISO 8601 with offset): when it was paid; `out_trade_no` (string, unique);
  `transaction_id` (string, optional; WeChat Pay's number); `amount_fen` (integer > 0);
  `channel`: `jsapi`, `native`, `pos` or `cash`; `store` (store code, optional; an unknown code
  creates the store); `unionid` / `phone`.
- Example:
  {"type": "order", "ts": "2026-10-03T12:00:00+08:00", "out_trade_no": "202610031200000001",
   "transaction_id": "4200001234202610031234567890", "amount_fen": 12900, "channel": "pos",
   "store": "SH001", "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL"}

`member_join` fields:
- `ts`: when they joined; `via`: `wechat`, `pos`, `weibo_campaign` or `import`;
  `unionid` / `phone`.
- Example:
  {"type": "member_join", "ts": "2026-09-28T09:30:00+08:00", "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
   "via": "wechat"}

A paid order earns points if the customer is a member at that time, moves them to stage
`customer` and converts their open leads, exactly like a live payment; no order message is sent.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from crm.identity import resolve_customer
from crm.models import Channel, Customer, CustomerKey

from .actions import create_order, join_membership, mark_order_paid
from .models import JoinedVia, Membership, Order, OrderChannel, Store


def _ts(event: dict) -> datetime:
    value = event.get("ts")
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"ts must be an ISO 8601 time with an offset, got {value!r}")
    return moment


def _customer(event: dict, channel: str, at: datetime) -> Customer:
    keys: dict[str, str] = {
        CustomerKey.Kind.UNIONID: str(event.get("unionid") or "").strip(),
        CustomerKey.Kind.PHONE: str(event.get("phone") or "").strip(),
    }
    if not any(keys.values()):
        raise ValueError("the event needs a unionid or a phone to find the customer")
    defaults = {k: str(event[k])[:128] for k in ("name", "city") if event.get(k)}
    try:
        return resolve_customer(channel=channel, keys=keys, defaults=defaults, at=at)
    except ValidationError as exc:
        raise ValueError(f"phone: {exc.messages[0]}") from exc


def import_order(event: dict) -> str:
    at = _ts(event)
    out_trade_no = str(event.get("out_trade_no") or "").strip()
    if not out_trade_no or len(out_trade_no) > 32:
        raise ValueError("out_trade_no is required (at most 32 characters)")
    amount = event.get("amount_fen")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount_fen must be a positive integer (fen), got {amount!r}")
    channel = event.get("channel")
    if channel not in OrderChannel.values:
        raise ValueError(
            f"channel must be one of {', '.join(OrderChannel.values)}, got {channel!r}"
        )
    transaction_id = str(event.get("transaction_id") or "").strip() or None
    if Order.objects.filter(out_trade_no=out_trade_no).exists():
        return "duplicate"
    if transaction_id and Order.objects.filter(transaction_id=transaction_id).exists():
        raise ValueError(f"transaction_id {transaction_id} belongs to another order")
    with transaction.atomic():
        crm_channel = Channel.POS if channel in ("pos", "cash") else Channel.WECHAT
        customer = _customer(event, crm_channel, at)
        store = None
        if event.get("store"):
            code = str(event["store"]).strip()[:32]
            store, _created = Store.objects.get_or_create(code=code, defaults={"name": code})
        order = create_order(
            amount_fen=amount,
            channel=channel,
            store=store,
            customer=customer,
            out_trade_no=out_trade_no,
            at=at,
        )
        mark_order_paid(order, transaction_id=transaction_id, paid_at=at, notify=False)
    return "created"


def import_member_join(event: dict) -> str:
    at = _ts(event)
    via = event.get("via", JoinedVia.IMPORT)
    if via not in JoinedVia.values:
        raise ValueError(f"via must be one of {', '.join(JoinedVia.values)}, got {via!r}")
    channel = {"wechat": Channel.WECHAT, "pos": Channel.POS, "weibo_campaign": Channel.WEIBO}.get(
        via, Channel.IMPORT
    )
    with transaction.atomic():
        customer = _customer(event, channel, at)
        if Membership.objects.filter(customer=customer).exists():
            return "duplicate"
        join_membership(customer, via=via, at=at)
    return "created"


HANDLERS = {"order": import_order, "member_join": import_member_join}
