"""Issuing and redeeming coupons."""

import logging
import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.actions import record_interaction
from crm.filtersets import segment_customers
from crm.models import Channel, Customer, InteractionKind, Segment
from crm.tasks_queue import enqueue_on_commit

from ..models import Coupon, CouponTemplate, IssuedVia, Order, Store
from .errors import ActionError

logger = logging.getLogger(__name__)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the till


class CouponError(ActionError):
    """A coupon that cannot be issued or redeemed; `reason` names why."""


_VIA_CHANNEL = {
    IssuedVia.WECHAT: Channel.WECHAT,
    IssuedVia.WEIBO_CAMPAIGN: Channel.WEIBO,
    IssuedVia.POS: Channel.POS,
    IssuedVia.SEGMENT: Channel.SYSTEM,
    IssuedVia.ADMIN: Channel.MANUAL,
}


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def _check_issuable(template: CouponTemplate, customer: Customer, at: datetime) -> None:
    if not template.active:
        raise CouponError("template", _("This coupon is no longer issued."), "inactive")
    if template.valid_until and template.valid_until <= at:
        raise CouponError("template", _("This coupon has expired."), "expired")
    held = Coupon.objects.filter(template=template, customer=customer).count()
    if held >= template.per_customer_limit:
        raise CouponError(
            "customer",
            _("This customer already has %(n)s of this coupon (the limit).") % {"n": held},
            "over_limit",
        )


def issue_coupon(
    template: CouponTemplate,
    customer: Customer,
    *,
    via: str,
    campaign: str = "",
    at: datetime | None = None,
    notify: bool = False,
) -> Coupon:
    """Give the customer one coupon of `template`; with `notify`, tell them on WeChat (after
    commit, through crm.inbox) with a link to their coupons page.

    Raises CouponError: template inactive or expired (`inactive`, `expired`), out of stock
    (`out_of_stock`), the customer at the per-customer limit (`over_limit`). Atomic; the template
    row is locked so stock and limits hold under concurrent issuing.
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
        _check_issuable(locked, customer, at)
        if locked.stock is not None and locked.issued_count >= locked.stock:
            raise CouponError("template", _("This coupon is out of stock."), "out_of_stock")
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    coupon = Coupon.objects.create(
                        code=new_code(),
                        template=locked,
                        customer=customer,
                        issued_via=via,
                        campaign=campaign[:100],
                        issued_at=at,
                        expires_at=locked.expiry_for(at),
                    )
                break
            except IntegrityError:  # a code collision: draw again
                continue
        CouponTemplate.objects.filter(pk=locked.pk).update(issued_count=F("issued_count") + 1)
        record_interaction(
            customer,
            InteractionKind.COUPON_ISSUED,
            _VIA_CHANNEL.get(IssuedVia(via), Channel.SYSTEM),
            occurred_at=at,
            summary=_("Coupon %(name)s issued") % {"name": locked.name},
            subject=coupon,
            data={"code": coupon.code, "via": via},
        )
        if notify:
            enqueue_on_commit("members.tasks.send_coupon_message_task", coupon.pk)
    return coupon


def issue_to_segment(template: CouponTemplate, segment: Segment, *, at=None) -> dict[str, int]:
    """Issue one coupon to every customer of the segment who consents to marketing and can
    still get one: a segment coupon is a marketing send.

    Customers without marketing consent are not sent anything and are counted (`no_consent`), so
    the sender sees how many the campaign did not reach; customers at their limit are skipped;
    issuing stops when stock runs out. Each coupon is its own transaction, so a failure
    part-way keeps what was issued. Returns {"issued", "skipped", "no_consent"}.
    """
    customers = segment_customers(segment)
    no_consent = customers.filter(consent_marketing=False).count()
    issued = skipped = 0
    for customer in customers.filter(consent_marketing=True).order_by("pk").iterator():
        try:
            issue_coupon(template, customer, via=IssuedVia.SEGMENT, campaign=segment.name, at=at)
            issued += 1
        except CouponError as exc:
            if exc.reason == "out_of_stock":
                break
            skipped += 1
    return {"issued": issued, "skipped": skipped, "no_consent": no_consent}


def check_redeemable(coupon: Coupon, *, store: Store | None, at: datetime, amount_fen=None) -> None:
    """Raise CouponError if the coupon cannot be used now at this store (and order amount)."""
    if coupon.redeemed_at:
        raise CouponError(
            "code",
            _("This coupon was already used on %(when)s.")
            % {"when": timezone.localtime(coupon.redeemed_at).strftime("%Y-%m-%d %H:%M")},
            "used",
        )
    template = coupon.template
    if coupon.expires_at and coupon.expires_at <= at:
        raise CouponError("code", _("This coupon has expired."), "expired")
    if template.valid_from and template.valid_from > at:
        raise CouponError("code", _("This coupon is not valid yet."), "not_yet_valid")
    allowed = list(template.stores.values_list("pk", flat=True))
    if allowed and (store is None or store.pk not in allowed):
        raise CouponError("store", _("This coupon cannot be used at this store."), "wrong_store")
    if amount_fen is not None and amount_fen < template.min_spend_fen:
        raise CouponError(
            "amount_fen",
            _("This coupon needs a purchase of at least ¥%(min)s.")
            % {"min": f"{template.min_spend_fen / 100:.2f}"},
            "min_spend",
        )
    used = Coupon.objects.filter(
        template=template, customer_id=coupon.customer_id, redeemed_at__isnull=False
    ).count()
    if used >= template.per_customer_limit:
        raise CouponError(
            "code",
            _("This customer has already used this coupon the maximum number of times."),
            "over_limit",
        )


def redeem_coupon(
    code: str, *, store: Store | None, order: Order | None = None, at: datetime | None = None
) -> Coupon:
    """Use a coupon once. The coupon row is locked (select_for_update), so of many concurrent
    attempts exactly one succeeds and the others get `used`.

    Raises CouponError: unknown code (`not_found`), already used (`used`), expired (`expired`),
    not valid yet, wrong store (`wrong_store`), below the minimum spend, over the per-customer
    limit (`over_limit`), an order of another customer (`order`, `not_owner`: a coupon is used
    only on its holder's order). Atomic.
    """
    at = at or timezone.now()
    with transaction.atomic():
        coupon = (
            Coupon.objects.select_for_update()
            .select_related("template", "customer")
            .filter(code=code.strip().upper())
            .first()
        )
        if coupon is None:
            raise CouponError("code", _("No coupon has this code."), "not_found")
        if order is not None and order.customer_id != coupon.customer_id:
            raise CouponError("order", _("This coupon belongs to another customer."), "not_owner")
        check_redeemable(coupon, store=store, at=at, amount_fen=order.amount_fen if order else None)
        coupon.redeemed_at = at
        coupon.redeemed_store = store
        coupon.redeemed_order = order
        coupon.save(update_fields=["redeemed_at", "redeemed_store", "redeemed_order"])
        record_interaction(
            coupon.customer,
            InteractionKind.COUPON_REDEEMED,
            Channel.POS if store else Channel.SYSTEM,
            occurred_at=at,
            summary=_("Coupon %(name)s used") % {"name": coupon.template.name}
            + (f" @ {store.name}" if store else ""),
            subject=coupon,
            data={"code": coupon.code, "store": store.code if store else None},
        )
    return coupon


def claim_coupon(
    template_id: int, customer: Customer, *, campaign: str = "", at: datetime | None = None
) -> Coupon:
    """The customer claims one coupon through the template's public claim link.

    Only a template marked `public_claim`, active and inside its claim window can be claimed
    (`CouponTemplate.objects.claimable`); any other id, VIP or compensation templates included,
    raises CouponError `not_claimable` (the page answers 404, as for an id that does not exist).
    Then as `issue_coupon` (via the campaign link), with its errors. Atomic.
    """
    at = at or timezone.now()
    template = CouponTemplate.objects.claimable(at).filter(pk=template_id).first()
    if template is None:
        raise CouponError("template", _("This offer has ended."), "not_claimable")
    return issue_coupon(template, customer, via=IssuedVia.WEIBO_CAMPAIGN, campaign=campaign, at=at)
