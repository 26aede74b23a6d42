"""A local stand-in for the WeChat API and the WeChat push server, for tests and the demo.

Run: `python -m devtools.sandboxes.wechat --port 8101 [--callback-base http://127.0.0.1:8000]`.
Tests start it in a thread (`start()`) on a free port.

WeChat API subset (same paths, parameters, JSON and errcodes as api.weixin.qq.com):
- `POST /cgi-bin/stable_token`: the same token while it is valid (normal mode); 40013/40125 for an
  unknown appid or wrong secret.
- `GET /cgi-bin/token`: a new token on every call (and the previous one stops working).
- `POST /cgi-bin/message/custom/send`: 40001 for a bad token, 40003 for an unknown openid,
  45015 outside the window (or after unfollow), 45047 when the window's quota is used, 45008 for
  news with more than one article. A user message opens 5 messages for 48 hours; a follow, scan
  or menu click 3 for one minute.
- `GET /cgi-bin/user/info`: the follower's profile (unionid, subscribe_scene, qr_scene...).
- `POST /cgi-bin/qrcode/create`: `QR_STR_SCENE` (temporary, expire_seconds <= 2592000, default
  30) or `QR_LIMIT_STR_SCENE` (permanent) with action_info.scene.scene_str (1-64 characters);
  40001 for a bad token, 40097 for invalid arguments. Answers ticket, expire_seconds, url.
- `GET /cgi-bin/showqrcode?ticket=...` (mp.weixin.qq.com in production): a PNG of a QR code
  encoding the ticket's url; 404 for an unknown ticket.

Playing the WeChat server (not WeChat API; JSON in, JSON out):
- `POST /sandbox/accounts` {appid, secret, token, encoding_aes_key, mode, callback}: register.
- `POST /sandbox/push` {appid, openid, msg_type, content | event, event_key, create_time, msg_id,
  ...}: build the XML push, sign it, encrypt it in safe/compatible mode, POST it to the
  account's callback, and answer {"status", "body"}. Also opens the user's window.
- `POST /sandbox/interact` {appid, openid, at}: the user wrote at `at` (Unix seconds).
- `POST /sandbox/users` {appid, openid, unionid, subscribe_scene, qr_scene, nickname}.
- `POST /sandbox/invalidate_token` {appid}: the current token stops working (40001).
- `POST /sandbox/fail` {path, errcode, times}: the next `times` calls to `path` fail.
- `POST /sandbox/scan` {appid, openid, scene, subscribe}: push the `subscribe` (EventKey
  `qrscene_<scene>`) or `SCAN` (EventKey `<scene>`) a scan of that code sends, with its Ticket.
- `POST /sandbox/stream` {interval}: push a random Chinese customer message every `interval`
  seconds (the demo's living inbox); `{"interval": 0}` stops it.
- `GET /sandbox/sent`, `GET /sandbox/stats`: what was sent, and call counters.

Extensions: each further API family lives in its own module `devtools/sandboxes/wechat_<name>.py`
that registers its paths with `@route("GET" | "POST", path)`; `start()` and `main()` import every
such module, so adding an API family edits no line here. A route gets the request handler (its
`state`, `_json()`, `_reply()`, `_token_appid()`, `_injected_failure()`) and the query dict, and
answers a dict (sent as JSON) or None when it wrote the response itself (binary bodies). Module
state goes in `state.extra[<module name>]`.
"""

import argparse
import importlib
import io
import json
import pkgutil
import random
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import qrcode

from channels_wechat import protocol

MESSAGE_WINDOW, MESSAGE_QUOTA = 48 * 3600, 5
MAX_QR_EXPIRE, MAX_SCENE_STR = 2592000, 64
EVENT_WINDOW, EVENT_QUOTA = 60, 3

# The demo's official account; devtools.demo.wechat creates the same one in the CRM.
DEMO_ACCOUNTS = [
    {
        "appid": "wx5d2a3f6c8b9e0a17",
        "original_id": "gh_3a9f5c2e7d1b",
        "name": "花间集美妆",
        "secret": "3f9c1e7a5b2d4f6081a3c5e7b9d1f2a4",
        "token": "huajianji2026",
        "encoding_aes_key": "Hj7kQ2mN9pR4sT6vX8zA1bC3dE5fG7hJ9kL2mN4pQ6r",
        "mode": "safe",
    }
]

STREAM_MESSAGES = [
    "你好，我昨天下的单什么时候发货？",
    "快递显示已签收，但是我没收到啊",
    "收到的口红外壳有裂痕，可以换货吗？",
    "会员积分怎么兑换优惠券？",
    "我想查一下我的会员等级",
    "双十一的满减活动还有吗？",
    "精华液是孕妇可以用的吗？",
    "订单号 2026112212345678，麻烦帮我看看物流",
    "优惠券显示已过期，能补发吗？",
    "请问上海有线下门店吗？",
    "退货地址是哪里？",
    "我要投诉，客服一直不回复！",
    "发票怎么开？",
    "生日礼包什么时候发放？",
]


RouteHandler = Callable[["Handler", dict[str, str]], "dict[str, Any] | None"]
ROUTES: dict[tuple[str, str], RouteHandler] = {}


def route(method: str, path: str) -> Callable[[RouteHandler], RouteHandler]:
    """Register an extension module's handler for `method path` (see the module docstring)."""

    def register(handler: RouteHandler) -> RouteHandler:
        known = ROUTES.get((method, path))

        def name(func: RouteHandler) -> tuple[str, str]:
            # The same module may be imported as __main__ too: its name's last part counts.
            return func.__module__.rsplit(".", 1)[-1], func.__qualname__

        if known is not None and name(known) != name(handler):
            # Two families claiming one path: which one answers would depend on import order.
            raise ValueError(f"{method} {path} is registered twice ({known.__module__})")
        ROUTES[(method, path)] = handler
        return handler

    return register


def load_extensions() -> None:
    """Import every `devtools/sandboxes/wechat_*.py`, whose `@route`s register themselves."""
    package = importlib.import_module("devtools.sandboxes")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("wechat_"):
            importlib.import_module(f"devtools.sandboxes.{module.name}")


class SandboxState:
    def __init__(self, callback_base: str = ""):
        self.lock = threading.Lock()
        self.callback_base = callback_base.rstrip("/")
        self.accounts: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # token -> {appid, expires}
        self.stable: dict[str, str] = {}  # appid -> current stable token
        self.users: dict[tuple[str, str], dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []
        self.failures: dict[str, list[int]] = {}
        self.stats: dict[str, int] = {}
        self.qrcodes: dict[str, dict[str, Any]] = {}  # ticket -> {appid, scene, url, expires}
        self.qrcode_requests: list[str] = []  # raw bodies received by qrcode/create
        self.msg_seq = int(time.time()) * 1000
        self.stream_interval = 0.0
        self.stream_thread: threading.Thread | None = None
        self.extra: dict[str, Any] = {}  # extension module name -> its state

    def count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def user(self, appid: str, openid: str) -> dict[str, Any]:
        key = (appid, openid)
        if key not in self.users:
            self.users[key] = {
                "openid": openid,
                "unionid": "",
                "subscribe": 1,
                "subscribe_time": int(time.time()),
                "subscribe_scene": "ADD_SCENE_SEARCH",
                "qr_scene": 0,
                "qr_scene_str": "",
                "language": "zh_CN",
                "remark": "",
                "nickname": "",
                "window_until": 0,
                "quota": 0,
                "used": 0,
            }
        return self.users[key]

    def interact(self, appid: str, openid: str, at: float, by_message: bool) -> None:
        user = self.user(appid, openid)
        if by_message:
            user.update(window_until=at + MESSAGE_WINDOW, quota=MESSAGE_QUOTA, used=0)
        elif user["window_until"] < at + EVENT_WINDOW:
            user.update(window_until=at + EVENT_WINDOW, quota=EVENT_QUOTA, used=0)


def _error(code: int, message: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": message}


class Handler(BaseHTTPRequestHandler):
    server_version = "WeChatSandbox/1.0"

    @property
    def state(self) -> SandboxState:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002  quiet: tests and demo read no access log
        pass

    def _reply(self, payload: dict[str, Any], status: int = 200) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        self.raw_body = raw
        return json.loads(raw.decode("utf-8") or "{}")

    def _injected_failure(self, path: str) -> dict[str, Any] | None:
        with self.state.lock:
            pending = self.state.failures.get(path)
            if pending:
                return _error(pending.pop(0), "injected failure")
        return None

    def _extension(self, method: str, path: str, query: dict[str, str]) -> bool:
        handler = ROUTES.get((method, path))
        if handler is None:
            return False
        answer = handler(self, query)
        if answer is not None:
            self._reply(answer)
        return True

    def do_GET(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if self._extension("GET", url.path, query):
            return None
        if url.path == "/cgi-bin/token":
            return self._reply(self.classic_token(query))
        if url.path == "/cgi-bin/user/info":
            return self._reply(self.user_info(query))
        if url.path == "/cgi-bin/showqrcode":
            return self.show_qrcode(query)
        if url.path == "/sandbox/sent":
            return self._reply({"sent": self.state.sent})
        if url.path == "/sandbox/stats":
            return self._reply({"stats": self.state.stats})
        return self._reply(_error(404, "not found"), 404)

    def do_POST(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if self._extension("POST", url.path, query):
            return None
        try:
            body = self._json()
        except (ValueError, UnicodeDecodeError):
            return self._reply(_error(47001, "data format error"))
        routes = {
            "/cgi-bin/stable_token": lambda: self.stable_token(body),
            "/cgi-bin/message/custom/send": lambda: self.custom_send(query, body),
            "/cgi-bin/qrcode/create": lambda: self.qrcode_create(query, body),
            "/sandbox/scan": lambda: push_to_callback(self.state, qr_event(self.state, **body)),
            "/sandbox/accounts": lambda: self.add_account(body),
            "/sandbox/push": lambda: self.push(body),
            "/sandbox/interact": lambda: self.sandbox_interact(body),
            "/sandbox/users": lambda: self.add_user(body),
            "/sandbox/invalidate_token": lambda: self.invalidate(body),
            "/sandbox/fail": lambda: self.add_failure(body),
            "/sandbox/stream": lambda: self.stream(body),
        }
        route = routes.get(url.path)
        if route is None:
            return self._reply(_error(404, "not found"), 404)
        return self._reply(route())

    # --- WeChat API -----------------------------------------------------------------------------

    def _check_credentials(self, appid: str, secret: str) -> dict[str, Any] | None:
        account = self.state.accounts.get(appid)
        if account is None:
            return _error(40013, "invalid appid")
        if account["secret"] != secret:
            return _error(40125, "invalid appsecret")
        return None

    def stable_token(self, body: dict) -> dict[str, Any]:
        failure = self._injected_failure("/cgi-bin/stable_token")
        if failure:
            return failure
        appid = body.get("appid", "")
        refused = self._check_credentials(appid, body.get("secret", ""))
        if refused:
            return refused
        now = time.time()
        with self.state.lock:
            self.state.count("stable_token")
            current = self.state.stable.get(appid)
            info = self.state.tokens.get(current or "")
            if body.get("force_refresh") or not info or info["expires"] <= now:
                current = secrets.token_urlsafe(48)
                self.state.tokens[current] = {"appid": appid, "expires": now + 7200}
                self.state.stable[appid] = current
                info = self.state.tokens[current]
        return {"access_token": current, "expires_in": int(info["expires"] - now)}

    def classic_token(self, query: dict) -> dict[str, Any]:
        appid = query.get("appid", "")
        refused = self._check_credentials(appid, query.get("secret", ""))
        if refused:
            return refused
        with self.state.lock:
            self.state.count("token")
            token = secrets.token_urlsafe(48)
            self.state.tokens[token] = {"appid": appid, "expires": time.time() + 7200}
        return {"access_token": token, "expires_in": 7200}

    def _token_appid(self, query: dict) -> tuple[str, dict[str, Any] | None]:
        info = self.state.tokens.get(query.get("access_token", ""))
        if info is None:
            return "", _error(40001, "invalid credential, access_token is invalid or not latest")
        if info["expires"] <= time.time():
            return "", _error(42001, "access_token expired")
        return info["appid"], None

    def custom_send(self, query: dict, body: dict) -> dict[str, Any]:
        failure = self._injected_failure("/cgi-bin/message/custom/send")
        if failure:
            return failure
        appid, refused = self._token_appid(query)
        if refused:
            return refused
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "image", "news", "voice", "video", "mpnews"):
            return _error(40008, "invalid message type")
        if msgtype == "news" and len(body.get("news", {}).get("articles", [])) > 1:
            return _error(45008, "article size out of limit")
        with self.state.lock:
            user = self.state.users.get((appid, body.get("touser", "")))
            if user is None:
                return _error(40003, "invalid openid")
            if not user["subscribe"] or user["window_until"] <= time.time():
                return _error(45015, "response out of time limit or subscription is canceled")
            if user["used"] >= user["quota"]:
                return _error(45047, "out of response count limit")
            user["used"] += 1
            self.state.msg_seq += 1
            self.state.sent.append(
                {
                    "appid": appid,
                    **body,
                    "msgid": self.state.msg_seq,
                    "raw": self.raw_body.decode("utf-8"),
                }
            )
            self.state.count("custom_send")
            return {"errcode": 0, "errmsg": "ok", "msgid": self.state.msg_seq}

    def qrcode_create(self, query: dict, body: dict) -> dict[str, Any]:
        failure = self._injected_failure("/cgi-bin/qrcode/create")
        if failure:
            return failure
        appid, refused = self._token_appid(query)
        if refused:
            return refused
        with self.state.lock:
            self.state.qrcode_requests.append(self.raw_body.decode("utf-8"))
        action = body.get("action_name")
        scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str")
        if action not in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
            return _error(40097, "invalid args hint: action_name")
        if not isinstance(scene, str) or not scene:
            return _error(40097, "invalid args hint: scene_str missing")
        if len(scene) > MAX_SCENE_STR:
            return _error(40097, "invalid args hint: scene_str length out of limit")
        expire = None
        if action == "QR_STR_SCENE":
            expire = body.get("expire_seconds", 30)
            if not isinstance(expire, int) or not 0 < expire <= MAX_QR_EXPIRE:
                return _error(40097, "invalid args hint: expire_seconds out of limit")
        ticket = "gQ" + secrets.token_urlsafe(40)
        url = f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}"
        with self.state.lock:
            self.state.count("qrcode_create")
            self.state.qrcodes[ticket] = {
                "appid": appid,
                "scene": scene,
                "url": url,
                "expires": time.time() + expire if expire else None,
            }
        answer: dict[str, Any] = {"ticket": ticket, "url": url}
        if expire:
            answer["expire_seconds"] = expire
        return answer

    def show_qrcode(self, query: dict) -> None:
        code = self.state.qrcodes.get(query.get("ticket", ""))
        if code is None or (code["expires"] and code["expires"] <= time.time()):
            return self._reply(_error(40097, "invalid ticket"), 404)
        buffer = io.BytesIO()
        qrcode.make(code["url"], box_size=10, border=2).save(buffer, format="PNG")
        image = buffer.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(image)))
        self.end_headers()
        self.wfile.write(image)

    def user_info(self, query: dict) -> dict[str, Any]:
        appid, refused = self._token_appid(query)
        if refused:
            return refused
        user = self.state.users.get((appid, query.get("openid", "")))
        if user is None:
            return _error(40003, "invalid openid")
        if not user["subscribe"]:
            return {"subscribe": 0, "openid": user["openid"]}
        profile = {k: v for k, v in user.items() if k not in ("window_until", "quota", "used")}
        if not profile["unionid"]:
            profile.pop("unionid")
        return profile

    # --- playing WeChat -------------------------------------------------------------------------

    def add_account(self, body: dict) -> dict[str, Any]:
        _add_account_to(self.state, body)
        return {"errcode": 0, "errmsg": "ok"}

    def add_user(self, body: dict) -> dict[str, Any]:
        with self.state.lock:
            user = self.state.user(body["appid"], body["openid"])
            for key in ("unionid", "subscribe_scene", "qr_scene", "qr_scene_str", "nickname"):
                if key in body:
                    user[key] = body[key]
        return {"errcode": 0, "errmsg": "ok"}

    def sandbox_interact(self, body: dict) -> dict[str, Any]:
        with self.state.lock:
            self.state.interact(
                body["appid"], body["openid"], float(body.get("at") or time.time()), True
            )
        return {"errcode": 0, "errmsg": "ok"}

    def invalidate(self, body: dict) -> dict[str, Any]:
        with self.state.lock:
            for token, info in list(self.state.tokens.items()):
                if info["appid"] == body["appid"]:
                    del self.state.tokens[token]
        return {"errcode": 0, "errmsg": "ok"}

    def add_failure(self, body: dict) -> dict[str, Any]:
        with self.state.lock:
            self.state.failures.setdefault(body["path"], []).extend(
                [int(body["errcode"])] * int(body.get("times", 1))
            )
        return {"errcode": 0, "errmsg": "ok"}

    def push(self, body: dict) -> dict[str, Any]:
        return push_to_callback(self.state, body)

    def stream(self, body: dict) -> dict[str, Any]:
        self.state.stream_interval = float(body.get("interval", 0))
        if self.state.stream_interval and not (
            self.state.stream_thread and self.state.stream_thread.is_alive()
        ):
            self.state.stream_thread = threading.Thread(
                target=_stream_loop, args=(self.state,), daemon=True
            )
            self.state.stream_thread.start()
        return {"errcode": 0, "errmsg": "ok"}


def build_push_xml(account: dict[str, Any], body: dict[str, Any], create_time: int) -> str:
    cdata = protocol.cdata
    parts = [
        f"<ToUserName>{cdata(account['original_id'])}</ToUserName>",
        f"<FromUserName>{cdata(body['openid'])}</FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType>{cdata(body.get('msg_type', 'text'))}</MsgType>",
    ]
    skip = {"appid", "openid", "msg_type", "create_time", "msg_id", "mode", "raw"}
    for key, value in body.items():
        if key in skip:
            continue
        tag = {
            "content": "Content",
            "event": "Event",
            "event_key": "EventKey",
            "media_id": "MediaId",
            "pic_url": "PicUrl",
            "ticket": "Ticket",
        }.get(key, key)
        parts.append(f"<{tag}>{cdata(value)}</{tag}>")
    if body.get("msg_type", "text") != "event":
        parts.append(f"<MsgId>{body['msg_id']}</MsgId>")
    return "<xml>" + "\n".join(parts) + "</xml>"


def qr_event(
    state: SandboxState, appid: str, openid: str, scene: str, subscribe: bool = True
) -> dict[str, Any]:
    """The push a scan of the code with `scene` sends: `subscribe` with EventKey
    `qrscene_<scene>` for someone not following, `SCAN` with EventKey `<scene>` for a follower;
    Ticket is the code's (empty for a scene this sandbox never issued). Opens the user's window
    as WeChat does; sign and send it with push_to_callback (or a test's own signed POST)."""
    ticket = next(
        (t for t, c in state.qrcodes.items() if c["appid"] == appid and c["scene"] == scene), ""
    )
    with state.lock:
        user = state.user(appid, openid)
        if subscribe:
            user.update(subscribe=1, subscribe_scene="ADD_SCENE_QR_CODE", qr_scene_str=scene)
        state.interact(appid, openid, time.time(), False)
    return {
        "appid": appid,
        "openid": openid,
        "msg_type": "event",
        "event": "subscribe" if subscribe else "SCAN",
        "event_key": f"qrscene_{scene}" if subscribe else scene,
        "ticket": ticket,
    }


def push_to_callback(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    """Sign (and encrypt) a push the way WeChat does and POST it to the account's callback."""
    account = state.accounts[body["appid"]]
    create_time = int(body.get("create_time") or time.time())
    with state.lock:
        if body.get("msg_type", "text") != "event":
            state.msg_seq += 1
            body.setdefault("msg_id", str(state.msg_seq))
        event = body.get("event")
        if event == "unsubscribe":
            state.user(account["appid"], body["openid"])["subscribe"] = 0
        elif event == "subscribe":
            state.user(account["appid"], body["openid"])["subscribe"] = 1
        if body.get("msg_type", "text") != "event":
            state.interact(account["appid"], body["openid"], create_time, True)
        elif event in ("subscribe", "SCAN", "CLICK"):
            state.interact(account["appid"], body["openid"], create_time, False)
    xml = body.get("raw") or build_push_xml(account, body, create_time)
    timestamp, nonce = str(int(time.time())), str(random.randint(10**8, 10**9))
    query = {
        "signature": protocol.sha1_signature(account["token"], timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": body["openid"],
    }
    mode = body.get("mode") or account["mode"]
    payload = xml
    if mode in ("safe", "compatible"):
        ciphertext = protocol.encrypt(account["encoding_aes_key"], xml, account["appid"])
        query["encrypt_type"] = "aes"
        query["msg_signature"] = protocol.msg_signature(
            account["token"], timestamp, nonce, ciphertext
        )
        envelope = f"<Encrypt>{protocol.cdata(ciphertext)}</Encrypt>"
        if mode == "safe":
            payload = (
                f"<xml><ToUserName>{protocol.cdata(account['original_id'])}</ToUserName>"
                f"{envelope}</xml>"
            )
        else:
            payload = xml[: -len("</xml>")] + envelope + "</xml>"
    url = f"{account['callback']}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(  # noqa: S310  the callback is the CRM this sandbox serves
        url,
        data=payload.encode("utf-8"),
        method="POST",
        headers={"Content-Type": "text/xml; charset=utf-8", "User-Agent": "Mozilla/4.0"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return {
                "status": response.status,
                "body": response.read().decode("utf-8"),
                "msg_id": body.get("msg_id", ""),
            }
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read().decode("utf-8", "replace")}
    except (urllib.error.URLError, TimeoutError) as exc:
        return {"status": 0, "body": f"unreachable: {getattr(exc, 'reason', exc)}"}


def _stream_loop(state: SandboxState) -> None:
    rng = random.Random()
    openids = [f"oDemoStream{n:04d}xYz{n * 7919 % 10000:04d}" for n in range(12)]
    while state.stream_interval:
        time.sleep(state.stream_interval)
        for account in list(state.accounts.values()):
            push_to_callback(
                state,
                {
                    "appid": account["appid"],
                    "openid": rng.choice(openids),
                    "msg_type": "text",
                    "content": rng.choice(STREAM_MESSAGES),
                },
            )


def start(port: int = 0, callback_base: str = "", accounts=()) -> ThreadingHTTPServer:
    """Start a sandbox in a daemon thread; `server.url` is its base URL."""
    load_extensions()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.state = SandboxState(callback_base)  # type: ignore[attr-defined]
    for account in accounts:
        _add_account_to(server.state, account)  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _add_account_to(state: SandboxState, account: dict[str, Any]) -> None:
    state.accounts[account["appid"]] = {
        "appid": account["appid"],
        "secret": account["secret"],
        "token": account["token"],
        "encoding_aes_key": account.get("encoding_aes_key", ""),
        "mode": account.get("mode", "plaintext"),
        "original_id": account.get("original_id", "gh_sandbox"),
        "callback": account.get("callback")
        or f"{state.callback_base}/hooks/wechat/{account['appid']}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="WeChat API sandbox")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--callback-base", default="http://127.0.0.1:8000")
    parser.add_argument("--no-demo-accounts", action="store_true")
    args = parser.parse_args()
    load_extensions()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = SandboxState(args.callback_base)  # type: ignore[attr-defined]
    if not args.no_demo_accounts:
        for account in DEMO_ACCOUNTS:
            _add_account_to(server.state, account)  # type: ignore[attr-defined]
    print(f"WeChat sandbox on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    # The importable module's main: extension modules register their @routes in its ROUTES,
    # not in this __main__ copy's (else every extension path is 404 under `python -m`).
    from devtools.sandboxes.wechat import main as module_main

    module_main()
