"""Demo data of WeChat marketing: two in three of the members who follow the account accept
marketing messages (as if switched on on the member card page, through its action), those are
tagged 会员日, and a mass send (群发) to that tag is approved by the manager and scheduled for
tomorrow evening, visible in the admin under 群发 (goes out through the beat)."""

from datetime import timedelta

from django.utils import timezone

TITLE = "会员日预告：明晚八点全场八折"


def services() -> list[list[str]]:
    return []


def load(stdout) -> None:
    from django.contrib.auth.models import User

    from channels_wechat.mass.approval import approve_send, save_draft, start_send
    from channels_wechat.models import MassSend, OfficialAccount, WeChatUser
    from crm.actions import set_marketing_consent, tag_customers
    from crm.models import Tag

    if MassSend.objects.filter(title=TITLE).exists():
        stdout.write("wechat marketing: demo mass send already loaded")
        return
    account = OfficialAccount.objects.order_by("pk").first()
    if account is None:
        stdout.write("wechat marketing: no official account, skipped")
        return
    tag, _created = Tag.objects.get_or_create(name="会员日")
    following = WeChatUser.objects.filter(
        account=account, subscribed=True, customer__membership__isnull=False
    ).select_related("customer")
    for n, user in enumerate(following.order_by("pk")):
        if n % 3 != 2 and user.customer is not None:
            set_marketing_consent(user.customer, True, via="member_page")
    members = following.filter(customer__consent_marketing=True)
    tagged = tag_customers(list(members.values_list("customer_id", flat=True)), [tag.name])
    local = timezone.localtime(timezone.now()) + timedelta(days=1)
    send = save_draft(
        MassSend(
            account=account,
            title=TITLE,
            target=MassSend.Target.TAG,
            tag=tag,
            kind=MassSend.Kind.TEXT,
            text="明晚八点会员日，全场八折，积分双倍！",
            link_url="https://shop.example.com/member-day",
            scheduled_at=local.replace(hour=20, minute=0, second=0, microsecond=0),
        ),
        User.objects.get(username="marketing"),
    )
    start_send(approve_send(send, User.objects.get(username="manager")))
    stdout.write(
        f"wechat marketing: {tagged} members tagged {tag.name}; mass send to them scheduled for "
        f"{send.scheduled_at:%Y-%m-%d %H:%M}"
    )


def after_start(stdout) -> None:
    return None


def urls() -> list[tuple[str, str]]:
    return [("群发 Mass sends:", "/admin/channels_wechat/masssend/")]
