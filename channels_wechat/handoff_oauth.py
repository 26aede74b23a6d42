"""A handoff link opened inside WeChat: sign the person in with OAuth (`snsapi_base`) on the
handoff's official account and link them as a follow through its QR code would
(crm.actions.claim_handoff_by_oauth). Registered with crm.handoff in apps.py; the HTTP calls
are members.client's (WECHAT_OAUTH_BASE / WECHAT_OAUTH_API_BASE)."""

from django.db import transaction
from django.utils import timezone

from crm.actions import claim_handoff_by_oauth
from members import client as oauth

from .ingest import attach_customer
from .models import OfficialAccount, WeChatUser


def _account(handoff) -> OfficialAccount:
    accounts = OfficialAccount.objects.filter(active=True)
    account = accounts.filter(appid=handoff.appid).first() if handoff.appid else None
    account = account or accounts.order_by("pk").first()
    if account is None:
        raise LookupError("no active official account")
    return account


def authorize_url(handoff, redirect_uri: str, state: str) -> str:
    return oauth.authorize_url(_account(handoff).appid, redirect_uri, state, scope="snsapi_base")


def link(handoff, code: str) -> str:
    """Exchange the OAuth `code` for the openid and claim the handoff for it; returns the
    reason ("" when linked). The openid gets its WeChatUser row (not a follower until it
    follows) and customer first. Raises LookupError when WeChat refuses the code (nothing
    stored)."""
    account = _account(handoff)
    try:
        grant = oauth.exchange_code(account.appid, account.app_secret, code)
    except oauth.OAuthError as exc:
        raise LookupError(f"OAuth refused: {exc}") from None
    now = timezone.now()
    with transaction.atomic():
        user, _created = WeChatUser.objects.get_or_create(
            account=account,
            openid=grant["openid"],
            defaults={"unionid": grant.get("unionid", "") or "", "subscribed": False},
        )
        attach_customer(user, at=now)
        assert user.customer is not None  # attach_customer gave the follower one
        _customer, reason = claim_handoff_by_oauth(
            handoff, appid=account.appid, openid=user.openid, customer=user.customer, at=now
        )
    return reason
