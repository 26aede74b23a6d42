"""The handoff registry: who makes a handoff's WeChat QR code and who sends a handoff link.

crm imports no channel app, so each registers itself in its AppConfig.ready:
channels_wechat the QR provider (`provider(handoff) -> image URL`, which also sets the
handoff's scene through `crm.actions.set_handoff_scene`), channels_weibo the link sender
(`sender(lead=..., conversation=..., agent=...) -> "message" | "comment"`), and channels_wechat
the in-WeChat sign-in (a module with `authorize_url(handoff, redirect_uri, state) -> str` and
`link(handoff, code) -> reason`, "" when linked).
"""

from importlib import import_module

from django.utils.module_loading import import_string

_PROVIDERS: dict[str, str] = {}


def register_handoff_qr_provider(path: str) -> None:
    _PROVIDERS["qr"] = path


def register_handoff_sender(path: str) -> None:
    _PROVIDERS["sender"] = path


def handoff_qr(handoff) -> str:
    """The QR image URL for `handoff` (made by the registered provider). Raises LookupError
    when no provider is registered; the provider's own errors pass through."""
    if "qr" not in _PROVIDERS:
        raise LookupError("no handoff QR provider registered")
    return import_string(_PROVIDERS["qr"])(handoff)


def send_handoff(**kwargs) -> str:
    """Send a handoff link through the registered sender; returns how it went out."""
    if "sender" not in _PROVIDERS:
        raise LookupError("no handoff sender registered")
    return import_string(_PROVIDERS["sender"])(**kwargs)


def register_handoff_oauth(path: str) -> None:
    _PROVIDERS["oauth"] = path


def handoff_oauth():
    """The registered in-WeChat sign-in module (LookupError when none is)."""
    if "oauth" not in _PROVIDERS:
        raise LookupError("no handoff OAuth provider registered")
    return import_module(_PROVIDERS["oauth"])
