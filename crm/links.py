"""Signed tracked links: `/r/<token>` records a click and redirects to the signed URL.

`tracked_url(url, source, customer_id=None)` makes the link (templates, mass sends, journeys use
the same one). The token is signed with SECRET_KEY (django.core.signing, salt "crm.links"), so
only URLs this CRM signed are redirected to: no open redirect. A bad or altered token answers 404.
"""

import secrets

from django.core import signing
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse

from .models import LinkClick

SALT = "crm.links"
VISITOR_COOKIE = "crm_v"


def make_token(url: str, source: str, customer_id: int | None = None) -> str:
    payload: dict = {"u": url, "s": source}
    if customer_id:
        payload["c"] = customer_id
    return signing.dumps(payload, salt=SALT, compress=True)


def tracked_url(url: str, source: str, customer_id: int | None = None, base: str = "") -> str:
    """The tracked link for `url` (absolute when `base`, e.g. settings.PUBLIC_BASE_URL, is given)."""
    return base.rstrip("/") + reverse("tracked-link", args=[make_token(url, source, customer_id)])


def read_token(token: str) -> dict:
    """The payload of a token; raises signing.BadSignature for anything this CRM did not sign."""
    payload = signing.loads(token, salt=SALT)
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), str):
        raise signing.BadSignature("not a link token")
    return payload


def follow_link(request, token: str):
    """Record the click (source, visitor cookie, customer of a personal link) and redirect."""
    try:
        payload = read_token(token)
    except signing.BadSignature:
        raise Http404("unknown link") from None
    visitor = request.COOKIES.get(VISITOR_COOKIE) or secrets.token_hex(8)
    LinkClick.objects.create(
        source=str(payload.get("s", ""))[:64],
        url=payload["u"][:500],
        customer_id=payload.get("c"),
        visitor=visitor[:32],
    )
    response = HttpResponseRedirect(payload["u"])
    response.set_cookie(VISITOR_COOKIE, visitor, max_age=365 * 86400, httponly=True, samesite="Lax")
    return response
