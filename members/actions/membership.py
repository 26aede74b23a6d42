"""Joining, the points ledger and tiers."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.actions import mark_customer_member, record_interaction, set_marketing_consent
from crm.attribution import customers_changed
from crm.identity import set_verified_phone
from crm.models import Channel, Customer, InteractionKind
from crm.tasks_queue import enqueue_on_commit

from ..models import JoinedVia, Membership, Order, PointsEntry, PointsKind, Tier
from ..models.orders import PAID_STATUSES
from .errors import ActionError
from .phone_verification import PhoneCodeError, clean_phone, verify_phone_code


class PointsError(ActionError):
    """A points movement that is not allowed (not enough points, zero points)."""


_VIA_CHANNEL = {
    JoinedVia.WECHAT: Channel.WECHAT,
    JoinedVia.POS: Channel.POS,
    JoinedVia.WEIBO_CAMPAIGN: Channel.WEIBO,
    JoinedVia.IMPORT: Channel.IMPORT,
}


def _next_member_number(at: datetime) -> str:
    """`M` + year + a sequence: readable at the till, unique by the column's constraint."""
    prefix = f"M{timezone.localtime(at).year}"
    last = (
        Membership.objects.filter(member_number__startswith=prefix)
        .order_by("-member_number")
        .values_list("member_number", flat=True)
        .first()
    )
    seq = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{seq:06d}"


def join_membership(
    customer: Customer, *, via: str, at: datetime | None = None
) -> tuple[Membership, bool]:
    """Make the customer a member (idempotent). Returns (membership, created).

    Moves the customer to stage `member`, converts their open leads, records the join on the
    timeline and gives the entry tier. Atomic; two concurrent joins give one membership.
    """
    if via not in JoinedVia.values:
        raise ValidationError({"via": _("Unknown way of joining: %(via)s.") % {"via": via}})
    at = at or timezone.now()
    existing = Membership.objects.filter(customer=customer).first()
    if existing:
        return existing, False
    for _attempt in range(5):
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    customer=customer,
                    member_number=_next_member_number(at),
                    joined_at=at,
                    joined_via=via,
                    tier=Tier.objects.order_by("rank").first(),
                )
                channel = _VIA_CHANNEL[JoinedVia(via)]
                mark_customer_member(customer, at=at, channel=channel)
                record_interaction(
                    customer,
                    InteractionKind.MEMBER_JOIN,
                    channel,
                    occurred_at=at,
                    summary=_("Joined membership %(number)s")
                    % {"number": membership.member_number},
                    subject=membership,
                )
                customers_changed([customer.pk])  # a membership to attribute
            return membership, True
        except IntegrityError:
            existing = Membership.objects.filter(customer=customer).first()
            if existing:
                return existing, False
    raise RuntimeError("could not allocate a member number")


def join_with_phone(
    customer: Customer,
    phone: str,
    *,
    code: str,
    consent: bool,
    marketing: bool = False,
    at: datetime | None = None,
) -> tuple[Membership, bool]:
    """The member page's join: the customer proves a mobile number with the SMS code sent to it
    (`phone_verification.request_phone_code`) and accepts the privacy terms.

    The number and consent are checked first (ValidationError naming each wrong field: `phone`
    missing or not a mobile number, `consent` not given; nothing written, no code used). Then
    the code (`verify_phone_code`: a wrong, expired or locked code raises PhoneCodeError on
    `code`; the wrong try is counted, nothing else written). Then, in one transaction: the
    verified number becomes the customer's phone and a strong key (`crm.identity.set_verified_phone`,
    which merges this customer with any other customer holding that verified number, the older
    surviving), the consent time, the separate and optional consent to marketing messages when
    `marketing` (its own unticked box: `crm.actions.set_marketing_consent`, on the timeline;
    left as it was otherwise, never withdrawn by joining) and the membership of the surviving
    customer (`join_membership`). Returns (membership, created); a survivor that was a member already
    keeps its membership (created False).
    """
    errors: dict[str, str] = {}
    try:
        phone = clean_phone(phone)
    except PhoneCodeError as exc:
        errors["phone"] = exc.text
    if not consent:
        errors["consent"] = _("Please accept the privacy terms to join.")
    if errors:
        raise ValidationError(errors)
    existing = Membership.objects.filter(customer=customer).first()
    if existing:
        return existing, False
    verify_phone_code(phone, code)
    at = at or timezone.now()
    with transaction.atomic():
        survivor = set_verified_phone(customer, phone)
        Customer.objects.filter(pk=survivor.pk).update(consent_privacy_at=at)
        survivor.consent_privacy_at = at
        if marketing:
            set_marketing_consent(survivor, True, via="member_join")
        return join_membership(survivor, via=JoinedVia.WECHAT, at=at)


def merge_memberships(source: Customer, target: Customer, field_name: str) -> list:
    """The membership part of `crm.actions.merge_customers` (registered in MembersConfig.ready):
    the target keeps its membership and the source's ledger moves onto it, the balance is the
    sum of the ledger and the earlier join date is kept; the source's membership, now empty, is
    deleted and the timeline keeps what it was. If only the source is a member, its membership
    moves to the target as it is.

    Returns what the MergeRecord lists under members.Membership: the moved membership's pk, or
    the merged member number. Runs in the merge's transaction (both customers locked); the
    target's membership is locked too, so a points movement waits for the merge.
    """
    mine = Membership.objects.filter(**{field_name: source}).first()
    if mine is None:
        return []
    theirs = Membership.objects.select_for_update().filter(**{field_name: target}).first()
    if theirs is None:
        Membership.objects.filter(pk=mine.pk).update(**{field_name: target})
        return [mine.pk]
    moved = list(mine.points_entries.values_list("pk", flat=True))
    PointsEntry.objects.filter(membership=mine).update(membership=theirs)
    Membership.objects.filter(pk=theirs.pk).update(
        points_balance=theirs.ledger_sum(), joined_at=min(theirs.joined_at, mine.joined_at)
    )
    record_interaction(
        target,
        InteractionKind.MERGE,
        Channel.SYSTEM,
        summary=f"{mine.member_number} → {theirs.member_number}",
        data={
            "merged_membership": mine.member_number,
            "joined_at": mine.joined_at.isoformat(),
            "joined_via": mine.joined_via,
            "points_entries_moved": moved,
        },
    )
    mine.delete()
    return [mine.member_number]


def points_for_amount(amount_fen: int) -> int:
    """Points earned for paying `amount_fen`: MEMBERS_POINTS_PER_YUAN per whole yuan."""
    return (amount_fen // 100) * settings.MEMBERS_POINTS_PER_YUAN


def _move_points(
    membership: Membership,
    kind: str,
    points: int,
    *,
    source_ref: str,
    reason: str,
    at: datetime | None,
    by=None,
    clamp: bool = False,
) -> tuple[PointsEntry, bool]:
    """Append one ledger row and update the balance, under a lock on the membership.

    Idempotent per `source_ref`: the same reference returns the existing entry. A negative
    movement larger than the balance raises PointsError, or with `clamp` takes only what is there.
    """
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        existing = PointsEntry.objects.filter(source_ref=source_ref).first()
        if existing:
            return existing, False
        if points < 0 and locked.points_balance + points < 0:
            if not clamp:
                raise PointsError(
                    "points",
                    _("Not enough points: the balance is %(balance)s, %(wanted)s needed.")
                    % {"balance": locked.points_balance, "wanted": -points},
                    "insufficient",
                )
            points = -locked.points_balance
        balance = locked.points_balance + points
        entry = PointsEntry.objects.create(
            membership=locked,
            kind=kind,
            points=points,
            balance_after=balance,
            reason=reason[:200],
            source_ref=source_ref,
            occurred_at=at or timezone.now(),
            created_by=by,
        )
        Membership.objects.filter(pk=locked.pk).update(points_balance=balance)
        membership.points_balance = balance
    return entry, True


def earn_points(membership, points: int, *, source_ref: str, reason: str, at=None, by=None):
    """Credit points (idempotent per source_ref). Returns (entry, created). Atomic."""
    if points <= 0:
        raise PointsError("points", _("Earned points must be positive."), "invalid")
    return _move_points(
        membership, PointsKind.EARN, points, source_ref=source_ref, reason=reason, at=at, by=by
    )


def spend_points(membership, points: int, *, source_ref: str, reason: str, at=None, by=None):
    """Debit points; refuses to go below zero (PointsError). Returns (entry, created). Atomic."""
    if points <= 0:
        raise PointsError("points", _("Spent points must be positive."), "invalid")
    return _move_points(
        membership, PointsKind.SPEND, -points, source_ref=source_ref, reason=reason, at=at, by=by
    )


def adjust_points(
    membership, points: int, *, source_ref: str, reason: str, at=None, by=None, clamp=False
):
    """A correction by staff or a reversal (refund), with a reason. Returns (entry, created)."""
    if points == 0:
        raise PointsError("points", _("An adjustment cannot be zero."), "invalid")
    if not reason.strip():
        raise PointsError("reason", _("An adjustment needs a reason."), "required")
    entry, created = _move_points(
        membership,
        PointsKind.ADJUST,
        points,
        source_ref=source_ref,
        reason=reason,
        at=at,
        by=by,
        clamp=clamp,
    )
    if created and by is not None and not source_ref.startswith("refund:"):
        # A staff correction is told to the member; a refund's reversal is in the refund notice.
        enqueue_on_commit("members.tasks.send_points_message_task", entry.pk)
    return entry, created


def expire_points(membership: Membership, *, now: datetime | None = None) -> int:
    """Expire points earned more than MEMBERS_POINTS_VALID_DAYS ago and not used since (FIFO).

    Points used (spent, expired, taken back) count against the oldest earned first. Idempotent per
    member and day. Returns the points expired.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MEMBERS_POINTS_VALID_DAYS)
    entries = PointsEntry.objects.filter(membership=membership)
    earned_old = (
        entries.filter(points__gt=0, occurred_at__lt=cutoff).aggregate(s=Sum("points"))["s"] or 0
    )
    used = -(entries.filter(points__lt=0).aggregate(s=Sum("points"))["s"] or 0)
    due = min(earned_old - used, membership.points_balance)
    if due <= 0:
        return 0
    day = timezone.localdate(now).isoformat()
    entry, created = _move_points(
        membership,
        PointsKind.EXPIRE,
        -due,
        source_ref=f"expire:{membership.pk}:{day}",
        reason=_("Points earned before %(date)s expired") % {"date": timezone.localdate(cutoff)},
        at=now,
        clamp=True,
    )
    return -entry.points if created else 0


def qualifying_totals(membership: Membership, *, now: datetime | None = None) -> dict[str, int]:
    """Points earned (net of refunds) and net spend (fen) over the 12 months before `now`."""
    now = now or timezone.now()
    since = now - timedelta(days=365)
    # Points earned, less what refunds took back: a returned purchase does not keep a tier.
    points = (
        PointsEntry.objects.filter(
            membership=membership, occurred_at__gt=since, occurred_at__lte=now
        )
        .filter(
            Q(kind=PointsKind.EARN) | Q(kind=PointsKind.ADJUST, source_ref__startswith="refund:")
        )
        .aggregate(s=Sum("points"))["s"]
        or 0
    )
    spend = Order.objects.filter(
        customer_id=membership.customer_id,
        status__in=PAID_STATUSES,
        paid_at__gt=since,
        paid_at__lte=now,
    ).aggregate(s=Sum("amount_fen"), r=Sum("refunded_fen"))
    return {"points": points, "spend": (spend["s"] or 0) - (spend["r"] or 0)}


def qualifying_tier(membership: Membership, *, now: datetime | None = None) -> Tier | None:
    totals = qualifying_totals(membership, now=now)
    best = None
    for tier in Tier.objects.order_by("rank"):
        if totals[tier.basis] >= tier.threshold:
            best = tier
    return best


def recompute_tier(membership: Membership, *, now: datetime | None = None) -> bool:
    """Upgrade or downgrade the member to the tier their last 12 months qualify for.

    Records the change on the timeline. Returns whether the tier changed. Atomic.
    """
    now = now or timezone.now()
    tier = qualifying_tier(membership, now=now)
    if tier is None or tier.pk == membership.tier_id:
        return False
    with transaction.atomic():
        previous = membership.tier
        moved = (
            Membership.objects.filter(pk=membership.pk)
            .exclude(tier=tier)
            .update(tier=tier, tier_changed_at=now)
        )
        if not moved:
            return False
        membership.tier, membership.tier_changed_at = tier, now
        record_interaction(
            membership.customer,
            InteractionKind.POINTS,
            Channel.SYSTEM,
            occurred_at=now,
            summary=_("Tier %(old)s → %(new)s")
            % {"old": previous.name if previous else "-", "new": tier.name},
            data={"from": previous.pk if previous else None, "to": tier.pk},
        )
    return True
