"""Channel QR codes as poster-size downloads: PNG from WeChat's image, SVG drawn from the URL.

The PNG is WeChat's own image (`showqrcode` by ticket, channels_wechat.client) scaled with
nearest-neighbour so each module stays a sharp square; the SVG encodes the code's `url` with the
same QR library as the member cards (members.qr), so it is vector and prints at any size.
"""

import io

from PIL import Image, UnidentifiedImageError

from crm.inbox import SendError
from members import qr

from .client import show_qrcode
from .models import ChannelCode

POSTER_PIXELS = 1280


def poster_png(code: ChannelCode, size: int = POSTER_PIXELS) -> bytes:
    """WeChat's image of the code scaled to `size` x `size` PNG. Raises SendError when the code
    has no ticket, WeChat does not answer with an image, or the image cannot be read."""
    if not code.ticket:
        raise SendError("no_ticket", "the code has no WeChat ticket")
    raw = show_qrcode(code.ticket)
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError):
        raise SendError("bad_image", "showqrcode answered an image that cannot be read") from None
    poster = image.convert("L").resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    poster.save(buffer, format="PNG")
    return buffer.getvalue()


def poster_svg(code: ChannelCode) -> str:
    """A standalone SVG of the code's URL (what WeChat's image encodes). Raises SendError when
    the code has no URL yet."""
    if not code.url:
        raise SendError("no_url", "the code has no WeChat URL")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + qr.svg(code.url)
