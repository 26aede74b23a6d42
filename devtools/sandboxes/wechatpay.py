"""A local WeChat Pay + WeChat OAuth sandbox: the API subset this app calls, over real HTTP.

Speaks API v2 (`/pay/unifiedorder`, `/pay/orderquery`, `/secapi/pay/refund`, XML signed with the
merchant's API key) and WeChat OAuth (`/connect/oauth2/authorize`, `/sns/oauth2/access_token`).
`POST /sandbox/pay` pays an order the way a customer scanning the QR code would: it sends a
correctly signed notification (v2 XML, or v3 JSON signed with the sandbox's platform key and
encrypted with the APIv3 key) to the order's `notify_url`, i.e. the CRM's hook.

Run: `python -m devtools.sandboxes.wechatpay --port 8103 --config var/wechatpay-sandbox.json`,
where the JSON has `{"merchants": [{"mchid", "appid", "app_secret", "api_key", "apiv3_key",
"sign_type"}], "platform_key": "<path of a PEM private key>"}` (created by
`devtools.demo.members`).
"""

import argparse
import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from members import protocol

NICKNAMES = ["小王", "李娜", "张伟", "晓明", "欣怡", "子涵", "浩然", "雨桐", "一诺", "思远"]


def sandbox_openid(n: int) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha1(f"sandbox-{n}".encode()).digest()).decode()  # noqa: S324
    return "o" + digest[:27]


def sandbox_user(n: int) -> dict:
    return {
        "openid": sandbox_openid(n),
        "unionid": f"demo-union-{n}",
        "nickname": NICKNAMES[n % len(NICKNAMES)],
    }


def new_platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


PLATFORM_SERIAL = "PUB_KEY_ID_0000000000000024101100397200000006"


class Sandbox:
    """State shared by the handler threads: merchants, orders, OAuth codes."""

    def __init__(self, merchants: list[dict], platform_key, auto_user: int | None = None):
        self.merchants = {m["mchid"]: m for m in merchants}
        self.platform_key = platform_key
        self.auto_user = auto_user
        self.orders: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.notifications: list[dict] = []

    # -- v2 API -----------------------------------------------------------------------------

    def v2(self, path: str, body: bytes) -> str:
        try:
            params = protocol.parse_xml(body)
        except protocol.ProtocolError as exc:
            return protocol.v2_reply(False, str(exc))
        merchant = self.merchants.get(params.get("mch_id", ""))
        if merchant is None:
            return protocol.v2_reply(False, "mch_id参数错误")
        if not protocol.v2_verify(params, merchant["api_key"], merchant.get("sign_type", "MD5")):
            return protocol.v2_reply(False, "签名错误")
        handler = {
            "/pay/unifiedorder": self.unified_order,
            "/pay/orderquery": self.order_query,
            "/secapi/pay/refund": self.refund,
        }[path]
        reply = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": merchant["appid"],
            "mch_id": merchant["mchid"],
            "nonce_str": protocol.nonce_str(),
        }
        reply.update(handler(merchant, params))
        reply["sign"] = protocol.v2_sign(
            reply, merchant["api_key"], merchant.get("sign_type", "MD5")
        )
        return protocol.build_xml(reply)

    @staticmethod
    def _error(code: str, text: str) -> dict:
        return {"result_code": "FAIL", "err_code": code, "err_code_des": text}

    def unified_order(self, merchant, params) -> dict:
        no = params.get("out_trade_no", "")
        with self.lock:
            known = self.orders.get(no)
            if known and known["total_fee"] != int(params.get("total_fee", 0)):
                return self._error("INVALID_REQUEST", "201 商户订单号重复")
            if known and known["trade_state"] == "SUCCESS":
                return self._error("ORDERPAID", "该订单已支付")
            if not known:
                known = self.orders[no] = {
                    "mchid": merchant["mchid"],
                    "out_trade_no": no,
                    "total_fee": int(params.get("total_fee", 0)),
                    "body": params.get("body", ""),
                    "notify_url": params.get("notify_url", ""),
                    "trade_type": params.get("trade_type", "NATIVE"),
                    "openid": params.get("openid", ""),
                    "trade_state": "NOTPAY",
                    "prepay_id": "wx" + secrets.token_hex(15),
                    "refunds": [],
                }
        reply = {
            "result_code": "SUCCESS",
            "trade_type": known["trade_type"],
            "prepay_id": known["prepay_id"],
        }
        if known["trade_type"] == "NATIVE":
            reply["code_url"] = f"weixin://wxpay/bizpayurl?pr={known['prepay_id'][-7:]}"
        return reply

    def order_query(self, merchant, params) -> dict:
        order = self.orders.get(params.get("out_trade_no", ""))
        if order is None:
            return self._error("ORDERNOTEXIST", "订单不存在")
        reply = {
            "result_code": "SUCCESS",
            "out_trade_no": order["out_trade_no"],
            "trade_state": order["trade_state"],
            "total_fee": order["total_fee"],
            "trade_type": order["trade_type"],
        }
        if order["trade_state"] == "SUCCESS":
            reply.update(
                transaction_id=order["transaction_id"],
                time_end=order["time_end"],
                openid=order["openid"],
            )
        return reply

    def refund(self, merchant, params) -> dict:
        order = self.orders.get(params.get("out_trade_no", ""))
        if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
            return self._error("ORDERNOTEXIST", "订单不存在或未支付")
        fee = int(params.get("refund_fee", 0))
        if fee <= 0 or fee + sum(r["fee"] for r in order["refunds"]) > order["total_fee"]:
            return self._error("INVALID_REQUEST", "退款金额大于支付金额")
        refund_id = "5030" + secrets.token_hex(12)
        order["refunds"].append({"no": params.get("out_refund_no"), "fee": fee, "id": refund_id})
        order["trade_state"] = "REFUND"
        return {
            "result_code": "SUCCESS",
            "out_trade_no": order["out_trade_no"],
            "out_refund_no": params.get("out_refund_no", ""),
            "refund_id": refund_id,
            "refund_fee": fee,
            "total_fee": order["total_fee"],
        }

    # -- paying and notifying ---------------------------------------------------------------

    def pay(self, request: dict) -> dict:
        """Mark an order paid and notify the CRM `times` times (WeChat retries)."""
        order = self.orders.get(request.get("out_trade_no", ""))
        if order is None:
            return {"error": "ORDERNOTEXIST"}
        user = sandbox_user(int(request.get("user", 1)))
        with self.lock:
            if order["trade_state"] != "SUCCESS":
                order.update(
                    trade_state="SUCCESS",
                    transaction_id="4200"
                    + datetime.now(UTC).strftime("%Y%m%d")
                    + secrets.token_hex(8)[:16],
                    time_end=protocol.format_time_end(datetime.now(UTC)),
                    openid=request.get("openid") or order["openid"] or user["openid"],
                )
        amount = int(request.get("amount_fen", order["total_fee"]))
        version = request.get("version", "v2")
        statuses = []
        for _ in range(int(request.get("times", 1))):
            statuses.append(self.notify(order, amount, version))
        return {
            "transaction_id": order["transaction_id"],
            "openid": order["openid"],
            "deliveries": statuses,
        }

    def v2_notification(self, order: dict, amount: int) -> bytes:
        merchant = self.merchants[order["mchid"]]
        params = {
            "appid": merchant["appid"],
            "mch_id": merchant["mchid"],
            "nonce_str": protocol.nonce_str(),
            "result_code": "SUCCESS",
            "return_code": "SUCCESS",
            "openid": order["openid"],
            "is_subscribe": "Y",
            "trade_type": order["trade_type"],
            "bank_type": "CFT",
            "total_fee": amount,
            "fee_type": "CNY",
            "cash_fee": amount,
            "transaction_id": order["transaction_id"],
            "out_trade_no": order["out_trade_no"],
            "attach": "",
            "time_end": order["time_end"],
        }
        # Real notifications often omit sign_type even for HMAC merchants (reference 8.2).
        params["sign"] = protocol.v2_sign(
            params, merchant["api_key"], merchant.get("sign_type", "MD5")
        )
        return protocol.build_xml(params).encode()

    def v3_notification(self, order: dict, amount: int) -> tuple[bytes, dict]:
        merchant = self.merchants[order["mchid"]]
        success = datetime.strptime(order["time_end"], "%Y%m%d%H%M%S").replace(
            tzinfo=protocol.BEIJING
        )
        transaction = {
            "appid": merchant["appid"],
            "mchid": merchant["mchid"],
            "out_trade_no": order["out_trade_no"],
            "transaction_id": order["transaction_id"],
            "trade_type": order["trade_type"],
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": success.isoformat(),
            "payer": {"openid": order["openid"]},
            "amount": {
                "total": amount,
                "payer_total": amount,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        nonce = secrets.token_hex(6)
        ciphertext = protocol.aes_gcm_encrypt(
            merchant["apiv3_key"],
            nonce,
            "transaction",
            json.dumps(transaction, ensure_ascii=False).encode(),
        )
        body = json.dumps(
            {
                "id": "EV-" + secrets.token_hex(10),
                "create_time": success.isoformat(),
                "resource_type": "encrypt-resource",
                "event_type": "TRANSACTION.SUCCESS",
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ciphertext,
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        ).encode()
        timestamp, header_nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": header_nonce,
            "Wechatpay-Signature": protocol.v3_sign(
                self.platform_key, timestamp, header_nonce, body
            ),
            "Wechatpay-Serial": PLATFORM_SERIAL,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }
        return body, headers

    def notify(self, order: dict, amount: int, version: str) -> int:
        if version == "v3":
            body, headers = self.v3_notification(order, amount)
            url = order["notify_url"].rstrip("/") + "/v3"
            headers["Content-Type"] = "application/json"
        else:
            body, headers = self.v2_notification(order, amount), {"Content-Type": "text/xml"}
            url = order["notify_url"]
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                status, reply = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, reply = exc.code, exc.read()
        except OSError:
            status, reply = 0, b""
        self.notifications.append(
            {"url": url, "status": status, "reply": reply.decode(errors="replace")}
        )
        return status

    # -- OAuth ------------------------------------------------------------------------------

    def authorize(self, query: dict) -> tuple[int, dict, bytes]:
        redirect = query.get("redirect_uri", "")
        chosen = query.get("as") or (str(self.auto_user) if self.auto_user else "")
        if not redirect or query.get("appid") not in {m["appid"] for m in self.merchants.values()}:
            return (
                400,
                {"Content-Type": "text/plain; charset=utf-8"},
                "appid 或 redirect_uri 错误".encode(),
            )
        if not chosen:
            links = "".join(
                f'<li><a href="?{urllib.parse.urlencode({**query, "as": n})}">'
                f"{sandbox_user(n)['nickname']}（用户 {n}）</a></li>"
                for n in range(1, 11)
            )
            page = (
                "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
                f"<title>微信授权（沙箱）</title><h3>选择一个微信用户登录</h3><ul>{links}</ul>"
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
        code = secrets.token_hex(16)
        self.codes[code] = {
            "user": int(chosen),
            "appid": query["appid"],
            "scope": query.get("scope", "snsapi_base"),
        }
        sep = "&" if "?" in redirect else "?"
        target = f"{redirect}{sep}{urllib.parse.urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": target}, b""

    def access_token(self, query: dict) -> dict:
        merchant = next(
            (m for m in self.merchants.values() if m["appid"] == query.get("appid")), None
        )
        if merchant is None or merchant.get("app_secret") != query.get("secret"):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        grant = self.codes.pop(query.get("code", ""), None)
        if grant is None or grant["appid"] != query.get("appid"):
            return {"errcode": 40029, "errmsg": "invalid code"}
        user = sandbox_user(grant["user"])
        return {
            "access_token": secrets.token_hex(20),
            "expires_in": 7200,
            "refresh_token": secrets.token_hex(20),
            "openid": user["openid"],
            "scope": grant["scope"],
            "unionid": user["unionid"],
        }


def make_handler(sandbox: Sandbox):
    class Handler(BaseHTTPRequestHandler):
        server_version = "wechatpay-sandbox"

        def log_message(self, format, *args):  # noqa: A002  quiet: tests and demo
            pass

        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data, status=200):
            self._send(
                status,
                json.dumps(data, ensure_ascii=False).encode(),
                "application/json; charset=utf-8",
            )

        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/connect/oauth2/authorize":
                status, headers, body = sandbox.authorize(query)
                content_type = headers.pop("Content-Type", "text/plain")
                return self._send(status, body, content_type, headers)
            if url.path == "/sns/oauth2/access_token":
                return self._json(sandbox.access_token(query))
            if url.path == "/sandbox/platform-public-key":
                return self._send(200, public_pem(sandbox.platform_key).encode(), "text/plain")
            if url.path == "/sandbox/orders":
                return self._json(list(sandbox.orders.values()))
            self._json({"errcode": 404, "errmsg": "not found"}, 404)

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, protocol.MAX_BODY + 1))
            path = urllib.parse.urlsplit(self.path).path
            if path in ("/pay/unifiedorder", "/pay/orderquery", "/secapi/pay/refund"):
                return self._send(200, sandbox.v2(path, body).encode(), "text/xml; charset=utf-8")
            if path == "/sandbox/pay":
                try:
                    request = json.loads(body or b"{}")
                except ValueError:
                    return self._json({"error": "bad json"}, 400)
                result = sandbox.pay(request)
                return self._json(result, 404 if "error" in result else 200)
            self._json({"errcode": 404, "errmsg": "not found"}, 404)

    return Handler


def serve(sandbox: Sandbox, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start the sandbox in a background thread; returns the server (call shutdown())."""
    server = ThreadingHTTPServer((host, port), make_handler(sandbox))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def load_config(path: str | Path) -> Sandbox:
    config = json.loads(Path(path).read_text())
    key = serialization.load_pem_private_key(
        Path(config["platform_key"]).read_bytes(), password=None
    )
    return Sandbox(config["merchants"], key, auto_user=config.get("auto_user"))


def main() -> None:
    parser = argparse.ArgumentParser(description="WeChat Pay and OAuth sandbox")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(load_config(args.config)))
    print(f"WeChat Pay sandbox on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
