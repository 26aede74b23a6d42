"""WeChat Pay API v2 client (unified order, order query, refund) and the WeChat OAuth client.

Real HTTP over urllib against WECHATPAY_API_BASE / WECHAT_OAUTH_API_BASE (the sandbox in tests
and the demo). Keys are never logged. Note: the real refund API needs the merchant's client
certificate (mutual TLS); production wires it through an SSL context here.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from . import protocol

logger = logging.getLogger(__name__)


class PayError(Exception):
    """A WeChat Pay call that failed: transport, FAIL return_code or a business error."""

    def __init__(self, code: str, message: str, *, transient: bool = False):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.transient = code, message, transient


def _post(url: str, body: bytes, content_type: str) -> bytes:
    request = urllib.request.Request(  # noqa: S310  base URL from settings
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.PLATFORM_HTTP_TIMEOUT) as resp:  # noqa: S310
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise PayError(f"HTTP{exc.code}", exc.reason, transient=exc.code >= 500) from exc
    except OSError as exc:
        raise PayError("NETWORK", str(exc), transient=True) from exc


class WeChatPayClient:
    def __init__(self, merchant, base_url: str | None = None):
        self.merchant = merchant
        self.base = (base_url or settings.WECHATPAY_API_BASE).rstrip("/")

    def _call(self, path: str, params: dict) -> dict:
        params = {
            "appid": self.merchant.appid,
            "mch_id": self.merchant.mchid,
            "nonce_str": protocol.nonce_str(),
            "sign_type": self.merchant.sign_type,
            **{k: v for k, v in params.items() if v not in (None, "")},
        }
        params["sign"] = protocol.v2_sign(params, self.merchant.api_key, self.merchant.sign_type)
        raw = _post(
            self.base + path, protocol.build_xml(params).encode(), "text/xml; charset=utf-8"
        )
        try:
            reply = protocol.parse_xml(raw)
        except protocol.ProtocolError as exc:
            raise PayError("BAD_REPLY", str(exc), transient=True) from exc
        if reply.get("return_code") != "SUCCESS":
            raise PayError("FAIL", reply.get("return_msg", ""))
        if not protocol.v2_verify(reply, self.merchant.api_key, self.merchant.sign_type):
            raise PayError("BAD_SIGNATURE", "the reply's signature does not verify")
        if reply.get("result_code") != "SUCCESS":
            raise PayError(reply.get("err_code", "ERROR"), reply.get("err_code_des", ""))
        return reply

    def unified_order(
        self, order, *, trade_type: str, notify_url: str, openid: str = "", client_ip: str = ""
    ) -> dict:
        """统一下单 (`/pay/unifiedorder`). NATIVE replies carry `code_url`, JSAPI `prepay_id`."""
        return self._call(
            "/pay/unifiedorder",
            {
                "body": order.description or "订单",
                "out_trade_no": order.out_trade_no,
                "total_fee": order.amount_fen,
                "spbill_create_ip": client_ip or "127.0.0.1",
                "notify_url": notify_url,
                "trade_type": trade_type,
                "product_id": order.out_trade_no if trade_type == "NATIVE" else "",
                "openid": openid,
            },
        )

    def order_query(self, out_trade_no: str) -> dict:
        """查询订单 (`/pay/orderquery`): `trade_state`, `transaction_id`, `total_fee`, `time_end`."""
        return self._call("/pay/orderquery", {"out_trade_no": out_trade_no})

    def refund(self, order, *, out_refund_no: str, refund_fee: int) -> dict:
        """申请退款 (`/secapi/pay/refund`): `refund_id` on success."""
        return self._call(
            "/secapi/pay/refund",
            {
                "out_trade_no": order.out_trade_no,
                "out_refund_no": out_refund_no,
                "total_fee": order.amount_fen,
                "refund_fee": refund_fee,
            },
        )


class OAuthError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def authorize_url(appid: str, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
    """Where to send the in-app browser to sign in (WECHAT_OAUTH_BASE/connect/oauth2/authorize)."""
    query = urllib.parse.urlencode(
        {
            "appid": appid,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
    )
    return (
        f"{settings.WECHAT_OAUTH_BASE.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"
    )


def exchange_code(appid: str, secret: str, code: str) -> dict:
    """`sns/oauth2/access_token`: the signed-in user's `openid` (and `unionid` when bound)."""
    query = urllib.parse.urlencode(
        {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"}
    )
    url = f"{settings.WECHAT_OAUTH_API_BASE.rstrip('/')}/sns/oauth2/access_token?{query}"
    try:
        with urllib.request.urlopen(url, timeout=settings.PLATFORM_HTTP_TIMEOUT) as resp:  # noqa: S310
            data = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise OAuthError("NETWORK", str(exc)) from exc
    if data.get("errcode"):
        raise OAuthError(data["errcode"], data.get("errmsg", ""))
    if not data.get("openid"):
        raise OAuthError("NO_OPENID", "the reply has no openid")
    return data
