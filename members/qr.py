"""QR codes (SVG for pages and POS screens, PNG for POS printers) and the member card code."""

import io

import qrcode
import qrcode.image.svg
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


def member_code(membership) -> str:
    """What the member QR code holds: the member number, signed so a POS cannot be fooled by a
    hand-typed number."""
    return signing.dumps(membership.member_number, salt=MEMBER_CODE_SALT, compress=True)


def member_number_from_code(code: str) -> str | None:
    try:
        return signing.loads(code, salt=MEMBER_CODE_SALT)
    except signing.BadSignature:
        return None
