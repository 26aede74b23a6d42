"""Pure Weibo protocol code: fan-service signatures, dates, ids and the `//@name:` repost chain.

Facts and test vectors: reference/weibo-api.md sections 2 to 4.
"""

import hashlib
import hmac
import json
import re
import urllib.parse
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import lru_cache
from typing import Any

WEIBO_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"
# `//@name:` or `//@name：` (full-width colon), optionally with spaces before the colon.
_CHAIN = re.compile(r"//\s*@([^:：\s/]+)\s*[:：]")
_MENTION = re.compile(r"@([^\s:：@/,，。!！?？#]+)")
_TAGS = re.compile(r"<[^>]+>")


def signature(app_secret: str, timestamp: str, nonce: str) -> str:
    """sha1 of the three strings sorted and joined: how the fan service signs every request."""
    raw = "".join(sorted([app_secret, str(timestamp), str(nonce)]))
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()  # noqa: S324  the platform's algorithm


def signature_ok(app_secret: str, timestamp: str, nonce: str, given: str) -> bool:
    if not (app_secret and timestamp and nonce and given):
        return False
    expected = signature(app_secret, timestamp, nonce).encode()
    # Bytes: compare_digest refuses a str with non-ASCII characters.
    return hmac.compare_digest(expected, given.lower().encode("utf-8", "replace"))


def signed_identity(query) -> bytes:
    """What a push's signature covers, as the replay check's identity of it: timestamp and
    nonce, under the signature (in lower case, as checked). Not the body, which is not signed:
    a captured query sent again with another body is the same push."""
    parts = (query.get("signature", "").lower(), query.get("timestamp", ""), query.get("nonce", ""))
    return "\n".join(parts).encode()


_TIME = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d\d) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d) (\d{4})"
)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


@lru_cache(maxsize=64)
def _offset(sign: str, hours: str, minutes: str) -> dt_timezone:
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return dt_timezone(-delta if sign == "-" else delta)


@lru_cache(maxsize=8192)
def parse_time(value: str) -> datetime:
    """`Tue May 31 17:46:55 +0800 2011` -> aware datetime. ValueError on anything else.

    The platform's one format is read with a regular expression (a page holds hundreds of
    times and strptime is slow); anything else goes to strptime, which accepts or refuses it.
    """
    text = str(value).strip()
    found = _TIME.fullmatch(text)
    if found is None:
        return datetime.strptime(text, WEIBO_TIME_FORMAT)  # noqa: DTZ007  the format has %z
    _day, month, day, hour, minute, second, sign, oh, om, year = found.groups()
    return datetime(
        int(year),
        _MONTHS[month],
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=_offset(sign, oh, om),
    )


def format_time(moment: datetime) -> str:
    return moment.strftime(WEIBO_TIME_FORMAT)


def idstr(obj: dict[str, Any]) -> str:
    """The object's id as a string: `idstr` when present (old payloads lack it), else `id`.

    Never goes through float: an int from the JSON parser is exact in Python.
    """
    value = obj.get("idstr") or obj.get("id")
    if value in (None, ""):
        raise ValueError("the object has no id or idstr")
    text = str(value)
    if not text.isdigit():
        raise ValueError(f"id {text!r} is not a number")
    return text


def as_int(value: Any, default: int = 0) -> int:
    """Counters arrive as ints or strings ("1369"); missing ones (old payloads) count 0."""
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def repost_chain(text: str) -> list[str]:
    """Screen names of the `//@name:` chain, nearest first (the first is the immediate parent).

    Both colon forms (`:` and `：`) and a space before the colon are accepted; HTML links the web
    API puts around names are stripped first.
    """
    return _CHAIN.findall(_TAGS.sub("", text or ""))


def own_text(text: str) -> str:
    """The reposter's own words: the text before the first `//@` hop."""
    return (text or "").split("//@", 1)[0].strip()


def mentioned_names(text: str) -> list[str]:
    return _MENTION.findall(text or "")


def passive_reply_data(payload: dict[str, Any]) -> str:
    """URL-encoded compact JSON, as `data` of a reply (reference section 3.5)."""
    return urllib.parse.quote(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
