"""Planning writes recipients and batches in one pass over the target: the same plan as the
plain definition (consent, then the monthly quota, then the pending followers spread evenly over
as many batches as the consenting ones need, in follower order) worked out here in Python."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_wechat.mass.planning import plan_send
from channels_wechat.models import MassSend, MassSendBatch, MassSendRecipient, WeChatUser
from tests.crm.factories import CustomerFactory

from .mass_helpers import started

pytestmark = pytest.mark.django_db


def _ntile(rows, buckets):
    """PostgreSQL's NTILE: the first len % buckets buckets hold one row more."""
    per, extra = divmod(len(rows), buckets)
    out, at = [], 0
    for bucket in range(buckets):
        size = per + (1 if bucket < extra else 0)
        out.append(rows[at : at + size])
        at += size
    return [b for b in out if b]


@pytest.mark.parametrize("insert", ["postgresql", "portable"])
@pytest.mark.parametrize(("size", "count"), [(3, 13), (4, 9), (10, 8), (1, 9)])
def test_plan_matches_the_plain_definition(account, settings, size, count, insert, monkeypatch):
    """Both ways of writing the plan: the one statement, and the portable one the demo's
    SQLite uses (channels_wechat.mass.planning._insert_portable)."""
    from channels_wechat.mass import planning

    if insert == "portable":
        monkeypatch.setattr(planning, "_insert_recipients", planning._insert_portable)
    settings.WECHAT_MASS_BATCH_SIZE = size
    now = timezone.now()
    users = []
    for i in range(count):
        customer = None if i == 5 else CustomerFactory(consent_marketing=i % 4 != 1)
        users.append(
            WeChatUser.objects.create(
                account=account, openid=f"oPlan{i:03d}", customer=customer, subscribed=i != 7
            )
        )
    # Followers 2 and 6 had their 4 mass sends this month, follower 3 had 3.
    for n in range(4):
        earlier = started(account, title=f"earlier {n}")
        for user in [users[2], users[6]] + ([users[3]] if n < 3 else []):
            MassSendRecipient.objects.create(
                send=earlier,
                user=user,
                openid=user.openid,
                status="sent",
                sent_at=now - timedelta(minutes=5),
            )
        MassSend.objects.filter(pk=earlier.pk).update(status="done", planned_at=now)
    send = plan_send(started(account), now)

    by_pk = {u.pk: u for u in users}
    target = [u for u in users if u.subscribed]
    consenting = [u for u in target if u.customer and u.customer.consent_marketing]
    deferred = [u for u in consenting if u in (users[2], users[6])]
    pending = [u for u in consenting if u not in deferred]
    batches = _ntile([u.pk for u in pending], -(-len(consenting) // size))
    assert (send.targeted, send.deferred, send.skipped_consent) == (
        len(consenting),
        len(deferred),
        len(target) - len(consenting),
    )
    planned = MassSendBatch.objects.filter(send=send).order_by("seq")
    assert [(b.seq, b.size) for b in planned] == [(n + 1, len(b)) for n, b in enumerate(batches)]
    assert [
        list(b.recipients.order_by("user_id").values_list("user_id", flat=True)) for b in planned
    ] == batches
    assert all(b.clientmsgid.startswith(f"crm{send.pk}-{b.seq}-") for b in planned)
    assert len({b.clientmsgid for b in planned}) == len(batches)
    assert sorted(
        MassSendRecipient.objects.filter(send=send).values_list(
            "user_id", "customer_id", "openid", "status", "batch_id"
        )
    ) == sorted(
        [(u.pk, u.customer_id, u.openid, "deferred", None) for u in deferred]
        + [
            (pk, by_pk[pk].customer_id, by_pk[pk].openid, "pending", b.pk)
            for b, members in zip(planned, batches, strict=True)
            for pk in members
        ]
    )
