"""The Weibo sandbox's private-message media: `GET /2/mss/msget?access_token&fid` (upload.api.weibo.com
in production) answers the file of an image or voice message by its `tovfid`.

A bad token is refused as every call is (21332...); an unknown fid gets HTTP 400 with error_code
10008 (Weibo's generic "param error": no specific code for it is documented). Tests and the demo
register files with `register_media(world, content, content_type)`, which returns the fid to put
in a push's `data.tovfid` (and a sender-side `vfid`).
"""

import secrets
from typing import Any


def _store(world) -> dict[int, dict[str, Any]]:
    if not hasattr(world, "media"):
        world.media = {}
    return world.media


def register_media(world, content: bytes, content_type: str) -> int:
    """Keep a private message's file; returns its recipient fid (an integer, as Weibo's)."""
    fid = 800_000_000 + secrets.randbelow(100_000_000)
    with world.lock:
        _store(world)[fid] = {"content": content, "content_type": content_type}
    return fid


def msget(handler, path: str, params: dict) -> tuple:
    handler._token(path, params)
    try:
        item = _store(handler.world).get(int(params.get("fid", "")))
    except ValueError:
        item = None
    if item is None:
        return (400, {"request": path, "error_code": 10008, "error": "param error, see doc"})
    return (200, item["content"], item["content_type"])
