"""QR codes (SVG for pages and POS screens, PNG for POS printers) and the member card code."""

import io

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.core import signing

MEMBER_CODE_SALT = "members.card"


def svg(data: str) -> str:
    """An inline SVG of `data` as a QR code (our own markup, safe to embed)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    text = image.to_string(encoding="unicode")
    return text[text.index("<svg") :]


def png(data: str) -> bytes:
    image = qrcode.make(data, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def card_code_lifetime() -> int:
    """Seconds a member card code stays valid: `MEMBERS_CARD_CODE_MINUTES` (default 5; a
    fraction is allowed, at least one second)."""
    return max(1, int(float(getattr(settings, "MEMBERS_CARD_CODE_MINUTES", 5)) * 60))


def card_code_refresh_in() -> int:
    """Seconds after which the card page fetches a fresh code: a minute before it expires (half
    its life if that is shorter), so the code on screen always has time left to be scanned."""
    lifetime = card_code_lifetime()
    return max(lifetime - 60, lifetime // 2, 1)


def member_code(membership) -> str:
    """What the member QR code holds: the member number, signed and timestamped, so a POS cannot
    be fooled by a hand-typed number and a screenshot or photo of the card stops working after
    `card_code_lifetime()` (as real membership codes do; the card page refreshes it)."""
    return signing.dumps(membership.member_number, salt=MEMBER_CODE_SALT, compress=True)


def read_member_code(code: str) -> tuple[str | None, str]:
    """(member number, "valid") for a good code; (None, "expired") for a genuine code older than
    its lifetime; (None, "invalid") for anything else (forged, altered, not a card code)."""
    try:
        number = signing.loads(code, salt=MEMBER_CODE_SALT, max_age=card_code_lifetime())
    except signing.SignatureExpired:
        return None, "expired"
    except signing.BadSignature:
        return None, "invalid"
    return (number, "valid") if isinstance(number, str) and number else (None, "invalid")


def member_number_from_code(code: str) -> str | None:
    """The member number of a valid, unexpired code; None otherwise."""
    return read_member_code(code)[0]
