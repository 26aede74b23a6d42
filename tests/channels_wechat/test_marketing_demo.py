"""The demo's mass send: two in three following members accept marketing and are tagged 会员日,
and the scheduled send plans exactly them (before, no demo customer had consent: 0 planned)."""

import io

from channels_wechat.mass.planning import plan_send
from channels_wechat.models import MassSend, WeChatUser
from devtools.demo import wechat_marketing as demo
from tests.conftest import make_staff
from tests.crm.factories import CustomerFactory
from tests.members.factories import MembershipFactory


def test_demo_mass_send_reaches_the_consenting_members(account):
    make_staff("marketing", "marketing")
    make_staff("manager", "manager")
    users = []
    for n in range(6):
        customer = CustomerFactory()
        MembershipFactory(customer=customer)
        users.append(
            WeChatUser.objects.create(
                account=account, openid=f"oDemoMember{n}", customer=customer, subscribed=n != 4
            )
        )
    WeChatUser.objects.create(account=account, openid="oNotMember", customer=CustomerFactory())
    out = io.StringIO()
    demo.load(out)
    send = MassSend.objects.get(title=demo.TITLE)
    assert send.status == MassSend.Status.SCHEDULED
    # Following members in id order 0, 1, 2, 3, 5: every third (2) keeps no consent.
    assert "4 members tagged 会员日" in out.getvalue()
    planned = plan_send(send)
    assert (planned.targeted, planned.skipped_consent) == (4, 0)
    assert sorted(planned.recipients.values_list("openid", flat=True)) == [
        "oDemoMember0",
        "oDemoMember1",
        "oDemoMember3",
        "oDemoMember5",
    ]
