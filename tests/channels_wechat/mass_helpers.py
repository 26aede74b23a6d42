"""Shared set-up of the mass-send tests: followers in the CRM and in the sandbox, drafts."""

import json
import urllib.request

from channels_wechat.mass.approval import approve_send, save_draft, start_send
from channels_wechat.models import MassSend, WeChatUser
from tests.conftest import make_staff
from tests.crm.factories import CustomerFactory


def followers(account, server, n, *, prefix="oMass", consent=True, known=True, tags=()):
    """`n` subscribed followers with customers (consenting or not), known to the sandbox."""
    users = []
    for i in range(n):
        customer = CustomerFactory(consent_marketing=consent)
        if tags:
            customer.tags.add(*tags)
        user = WeChatUser.objects.create(
            account=account, openid=f"{prefix}{i:04d}", customer=customer, subscribed=True
        )
        if known:
            with server.state.lock:
                server.state.user(account.appid, user.openid)
        users.append(user)
    return users


def sandbox_get(server, path):
    with urllib.request.urlopen(f"{server.url}{path}") as response:  # noqa: S310
        return json.loads(response.read())


def sandbox_post(server, path, body):
    request = urllib.request.Request(  # noqa: S310
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        return json.loads(response.read())


def staff(username, role=None):
    """The staff user of that name, made on first use."""
    from django.contrib.auth.models import User

    return User.objects.filter(username=username).first() or make_staff(username, role)


def draft(account, author=None, **fields):
    author = author or staff("author", "marketing")
    values = {"title": "双十二会员日", "target": "all", "kind": "text", "text": "会员日全场八折"}
    values.update(fields)
    return save_draft(MassSend(account=account, **values), author)


def approved(account, **fields):
    send = draft(account, **fields)
    return approve_send(send, staff("boss", "manager"))


def started(account, **fields):
    return start_send(approved(account, **fields))
