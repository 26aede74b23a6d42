"""What a stored WeChat Pay notification does (the worker side of the raw-first hooks)."""

import json
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from crm.models import RawDelivery

from .. import protocol
from ..models import MerchantConfig, PaymentNotification, Refund
from .orders import OrderError, mark_order_paid, refund_order


def parse_delivery(delivery: RawDelivery, merchant: MerchantConfig) -> tuple[str, dict]:
    """(api_version, fields) of a stored notification; v3 resources are decrypted here.

    Raises ProtocolError if it names another merchant's mchid or appid (the hook refuses those;
    this keeps a row stored before that check from acting on another merchant's orders).
    """
    body = bytes(delivery.body)
    if delivery.path.rstrip("/").endswith("/v3"):
        envelope = json.loads(body)
        data = protocol.v3_resource(merchant.apiv3_key, envelope)
        protocol.check_v3_owner(envelope, data, merchant.mchid, merchant.appid)
        return "v3", {"event": envelope, "transaction": data}
    params = protocol.parse_xml(body)
    protocol.check_owner(
        params, merchant.mchid, merchant.appid, mchid_field="mch_id", appid_required=True
    )
    return "v2", params


def _v2_fields(params: dict) -> dict:
    ok = params.get("return_code") == "SUCCESS" and params.get("result_code") == "SUCCESS"
    return {
        "success": ok,
        "out_trade_no": params.get("out_trade_no", ""),
        "transaction_id": params.get("transaction_id", ""),
        "amount_fen": int(params["total_fee"]) if params.get("total_fee", "").isdigit() else None,
        "openid": params.get("openid", ""),
        "paid_at": protocol.parse_time_end(params["time_end"]) if params.get("time_end") else None,
    }


def _v3_fields(data: dict) -> dict:
    event, tx = data["event"], data["transaction"]
    paid_at: datetime | None = parse_datetime(tx.get("success_time") or "")
    return {
        "success": event.get("event_type") == "TRANSACTION.SUCCESS"
        and tx.get("trade_state") == "SUCCESS",
        "ignored": not str(event.get("event_type", "")).startswith("TRANSACTION."),
        "out_trade_no": tx.get("out_trade_no", ""),
        "transaction_id": tx.get("transaction_id", ""),
        "amount_fen": (tx.get("amount") or {}).get("total"),
        "openid": (tx.get("payer") or {}).get("openid", ""),
        "paid_at": paid_at,
        "event_id": event.get("id", ""),
    }


def _apply_refund(delivery: RawDelivery, merchant: MerchantConfig, params: dict) -> str:
    """A v2 refund notification: record the refund on its order, looked up within this merchant
    (`refund_order`, idempotent on out_refund_no: a refund the CRM asked for itself is a
    duplicate) and keep the notification.
    """
    info = protocol.v2_refund_decrypt(merchant.api_key, params["req_info"])
    fee = info.get("refund_fee", "")
    amount = int(fee) if fee.isdigit() else None
    out_refund_no, refund_id = info.get("out_refund_no", ""), info.get("refund_id", "")
    order = merchant.orders.filter(out_trade_no=info.get("out_trade_no", "")).first()
    known = Refund.objects.filter(out_refund_no=out_refund_no).first()
    detail = ""
    if info.get("refund_status") != "SUCCESS" or params.get("return_code") != "SUCCESS":
        outcome = PaymentNotification.Outcome.REFUND_NOT_SUCCESS
    elif order is None:
        outcome = PaymentNotification.Outcome.UNKNOWN_ORDER
    elif known is not None and known.order_id != order.pk:
        outcome = PaymentNotification.Outcome.REFUND_REFUSED
        detail = _("This out_refund_no is a refund of another order.")
    elif known is not None:
        outcome = PaymentNotification.Outcome.DUPLICATE
        if not known.refund_id:
            known.refund_id = refund_id
            known.save(update_fields=["refund_id"])
    else:
        try:
            refund_order(
                order,
                amount or 0,
                reason=_("Refund notified by WeChat Pay (%(source)s)")
                % {"source": info.get("refund_request_source", "")},
                out_refund_no=out_refund_no,
                refund_id=refund_id,
                at=protocol.parse_refund_time(info["success_time"])
                if info.get("success_time")
                else timezone.now(),
            )
            outcome = PaymentNotification.Outcome.REFUNDED
        except OrderError as exc:
            outcome, detail = PaymentNotification.Outcome.REFUND_REFUSED, exc.text
    PaymentNotification.objects.create(
        raw=delivery,
        mchid=merchant.mchid,
        api_version="v2",
        out_trade_no=info.get("out_trade_no", "")[:32],
        transaction_id=info.get("transaction_id", "")[:32],
        amount_fen=amount,
        order=order,
        outcome=outcome,
        data={"notification": params, "refund": info, **({"error": detail} if detail else {})},
        received_at=delivery.received_at,
    )
    return refund_id or out_refund_no


def apply_payment_notification(delivery: RawDelivery) -> str:
    """Turn one stored notification into a PaymentNotification and, if it pays a known order of
    its merchant for the right amount, a paid order (`mark_order_paid`, idempotent on the order).

    Runs inside `crm.ingestion.run_processor` (row locked, one transaction). Returns the dedupe key
    (the transaction id). Raises on an undecryptable or malformed body (the row is marked failed).
    """
    merchant = MerchantConfig.objects.get(mchid=delivery.account)
    version, data = parse_delivery(delivery, merchant)
    if version == "v2" and "req_info" in data:
        return _apply_refund(delivery, merchant, data)
    fields = _v2_fields(data) if version == "v2" else _v3_fields(data)
    # Within the merchant: out_trade_no is only ours, not the platform's, to keep unique.
    order = merchant.orders.filter(out_trade_no=fields["out_trade_no"]).first()
    outcome: str
    if fields.get("ignored"):
        outcome = PaymentNotification.Outcome.IGNORED
    elif not fields["success"]:
        outcome = PaymentNotification.Outcome.NOT_SUCCESS
    elif order is None:
        outcome = PaymentNotification.Outcome.UNKNOWN_ORDER
    else:
        order, outcome = mark_order_paid(
            order,
            transaction_id=fields["transaction_id"] or None,
            paid_at=fields["paid_at"] or timezone.now(),
            amount_fen=fields["amount_fen"],
            payer_openid=fields["openid"],
        )
    PaymentNotification.objects.create(
        raw=delivery,
        mchid=merchant.mchid,
        api_version=version,
        out_trade_no=fields["out_trade_no"][:32],
        transaction_id=(fields["transaction_id"] or "")[:32],
        amount_fen=fields["amount_fen"],
        payer_openid=fields["openid"][:64],
        order=order,
        outcome=outcome,
        data=data,
        received_at=delivery.received_at,
    )
    return fields["transaction_id"] or fields.get("event_id", "")
