"""A local Weibo API sandbox: `python -m devtools.sandboxes.weibo --port 8102`.

Speaks the subset the CRM calls (OAuth authorize/access_token, statuses/mentions,
comments/mentions, comments/to_me, statuses/repost_timeline, statuses/user_timeline,
statuses/show, users/show, users/counts, statuses/share, messages/reply) with realistic Chinese
data generated from a seed: a brand account, fans, KOLs, brand posts with repost cascades
(`//@name:` chains, some fans asking where to buy as they repost), mentions with mixed
sentiment, comments. Ids are 16-digit, time-ordered;
some mids are 19 digits. Errors are Weibo's JSON. Rate limiting: `--hourly-limit` calls per token
per hour give 10023 with `reset_time_in_seconds`.

Control endpoints for tests and the demo:
- `POST /sandbox/fail` `{"path": "/2/comments/to_me.json", "error_code": 10023, "times": 1}`;
- `POST /sandbox/expire` `{"access_token": "..."}` (21327 from then on);
- `POST /sandbox/activity` `{"count": 3}`: new mentions and comments arrive;
- `POST /sandbox/push` `{"hook": "http://.../hooks/weibo/<uid>", "app_secret": "...",
  "message": {...}}`: signs and posts a fan-service push to the CRM;
- `GET /sandbox/sent`: messages sent through messages/reply.
"""

import argparse
import json
import random
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from channels_weibo.protocol import format_time, signature
from devtools.names import SURNAMES

from . import weibo_media

CST = timedelta(hours=8)
BRAND: dict[str, Any] = {
    "uid": "5988800001",
    "screen_name": "花漾美妆",
    "location": "上海 徐汇区",
    "followers": 286000,
}
APP_KEY = "3345678901"
APP_SECRET = "weibo-sandbox-app-secret"
KOLS = [
    ("6100000001", "美妆博主小鹿", "big_v", 1830000, 0),
    ("6100000002", "段子手阿飞", "joke", 960000, 0),
    ("6100000003", "时尚头条君", "media", 2450000, 3),
    ("6100000004", "护肤达人Lily", "grassroots", 128000, 0),
]
NICKS = [
    "小仙女",
    "爱吃草莓",
    "猫系少女",
    "奶茶续命",
    "追光者",
    "晴天",
    "柠檬精",
    "不吃香菜",
    "早睡早起",
    "summer",
    "Coco",
    "momo",
    "打工人",
    "夏天的风",
    "一只兔子",
    "元气满满",
]
CITIES = [
    "上海 徐汇区",
    "北京 朝阳区",
    "广东 广州",
    "广东 深圳",
    "浙江 杭州",
    "四川 成都",
    "江苏 南京",
    "湖北 武汉",
]
BRAND_POSTS = [
    "【新品上市】花漾水光精华液今天正式发售！前100名下单送同款小样，转发抽3位送正装🎁",
    "#花漾美妆# 换季护肤指南：敏感肌这样做，温和不刺激。你们换季都用什么？",
    "会员日福利来啦！今晚8点直播间全场满299减50，记得定好闹钟⏰",
    "花漾x故宫联名礼盒预售开启，限量5000套，先到先得。",
    "感谢大家的支持，花漾精华液销量突破10万瓶！评论区说说你的使用感受吧～",
    "夏日防晒小课堂：SPF和PA到底怎么看？一图看懂👇",
]
POSITIVE = [
    "用了两周皮肤真的变好了，爱了爱了！",
    "包装超好看，质地也很清爽，推荐！",
    "回购第三次了，很好用",
    "客服小姐姐态度超好，点赞",
    "这个精华液太好用了，必须安利",
    "礼盒好精致，送女朋友她很喜欢",
]
NEGATIVE = [
    "快递一个星期还没到，太差了，客服也不回复",
    "用了之后脸上过敏了，很失望，要求退款",
    "买到的精华液是漏的，包装破损，差评",
    "价格比专柜贵还没有赠品，再也不买了",
    "客服态度很差，问题一直不解决",
    "直播间说好的赠品没有发，太坑了",
]
NEUTRAL = [
    "请问敏感肌可以用吗？",
    "这个精华液多少钱？求链接",
    "哪里买比较便宜？有没有团购",
    "想做代理，怎么联系？",
    "明天直播几点开始？",
    "和之前那款有什么区别？",
]
REPOST_WORDS = ["转发微博", "好物分享", "支持一下", "种草了", "已下单", "冲冲冲", "mark一下", ""]
# What fans reached through a KOL's repost ask in their own: the buying intent the KOL brought.
REPOST_ASKS = ["求链接", "多少钱？求链接", "哪里买呀", "怎么买？"]


def _now() -> datetime:
    return datetime.now(UTC)


class World:
    """The sandbox's data: generated from a seed, growing with `activity()` and `share()`."""

    def __init__(
        self,
        seed: int = 2026,
        days: int = 14,
        fans: int = 60,
        now: datetime | None = None,
        fan_base: int = 7000000001,
    ):
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.now = now or _now()
        self.users: dict[str, dict] = {}
        self.statuses: dict[int, dict] = {}
        self.comments: dict[int, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.failures: list[dict] = []
        self.sent: list[dict] = []
        self.calls: dict[str, list[float]] = {}
        self.followers = {BRAND["uid"]: BRAND["followers"]}
        self._seq = 0
        self.brand = self._user(
            BRAND["uid"], BRAND["screen_name"], BRAND["location"], BRAND["followers"], 2
        )
        self.kols = [
            self._user(uid, name, self.rng.choice(CITIES), f, vt) for uid, name, _c, f, vt in KOLS
        ]
        self.fans = []
        for i in range(fans):
            name = (
                self.rng.choice(SURNAMES) + self.rng.choice(NICKS) + str(self.rng.randint(1, 999))
            )
            self.fans.append(
                self._user(
                    str(fan_base + i),
                    name,
                    self.rng.choice(CITIES),
                    self.rng.randint(20, 5000),
                    -1,
                )
            )
        start = self.now - timedelta(days=days)
        for day in range(days):
            moment = start + timedelta(days=day, hours=self.rng.randint(1, 10))
            if day % 2 == 0:
                post = self._status(self.brand, BRAND_POSTS[(day // 2) % len(BRAND_POSTS)], moment)
                self._cascade(post, moment)
            for _ in range(self.rng.randint(2, 5)):
                self._mention(moment + timedelta(hours=self.rng.randint(1, 12)))

    # -- generation --------------------------------------------------------------------------
    def _user(self, uid, name, location, followers, verified_type) -> dict:
        user = {
            "id": int(uid),
            "idstr": uid,
            "screen_name": name,
            "name": name,
            "location": location,
            "gender": self.rng.choice(["f", "f", "m"]),
            "followers_count": followers,
            "friends_count": self.rng.randint(50, 900),
            "statuses_count": self.rng.randint(100, 9000),
            "verified": verified_type >= 0,
            "verified_type": verified_type,
            "profile_image_url": f"https://tvax1.sinaimg.cn/crop.0.0.180.180.50/{uid}.jpg",
        }
        self.users[uid] = user
        return user

    def _next_id(self, moment: datetime) -> int:
        # Time-ordered 16-digit ids, like Weibo's.
        self._seq += 1
        sid = 5_000_000_000_000_000 + int(moment.timestamp()) * 1000 % 10**15 + self._seq % 1000
        while sid in self.statuses or sid in self.comments:
            sid += 1
        return sid

    def _stamp(self, moment: datetime) -> str:
        return format_time(moment.astimezone(dt_timezone(CST)))

    def _status(self, user, text, moment, root=None) -> dict:
        sid = self._next_id(moment)
        obj = {
            "created_at": self._stamp(moment),
            "id": sid,
            "idstr": str(sid),
            # One status in ten has a 19-digit mid (beyond 2^53), as old payloads do.
            "mid": str(sid) if sid % 10 else str(5612814510546515491 + sid % 1000),
            "text": text,
            "source": '<a href="http://app.weibo.com/t/feed/6vtZb0" rel="nofollow">微博 weibo.com</a>',
            "user": user,
            "reposts_count": 0,
            "comments_count": 0,
            "attitudes_count": self.rng.randint(0, 40),
            "_at": moment,
        }
        if root is not None:
            obj["retweeted_status"] = root
            root["reposts_count"] += 1
        self.statuses[sid] = obj
        return obj

    def _comment(self, user, status, text, moment) -> dict:
        cid = self._next_id(moment)
        obj = {
            "created_at": self._stamp(moment),
            "id": cid,
            "idstr": str(cid),
            "mid": str(cid),
            "text": text,
            "source": '<a href="http://weibo.com/" rel="nofollow">iPhone客户端</a>',
            "user": user,
            "status": status,
            "_at": moment,
        }
        status["comments_count"] += 1
        self.comments[cid] = obj
        return obj

    def _words(self) -> str:
        roll = self.rng.random()
        pool = POSITIVE if roll < 0.45 else NEGATIVE if roll < 0.7 else NEUTRAL
        return self.rng.choice(pool)

    def _cascade(self, root, moment) -> None:
        when = moment
        spreaders = [*self.rng.sample(self.kols, 2), *self.rng.sample(self.fans, 3)]
        for spreader in spreaders:
            when += timedelta(minutes=self.rng.randint(5, 90))
            words = self.rng.choice(POSITIVE + REPOST_WORDS)
            repost = self._status(spreader, words or "转发微博", when, root)
            for fan in self.rng.sample(self.fans, self.rng.randint(1, 4)):
                when += timedelta(minutes=self.rng.randint(1, 60))
                own = self.rng.choice(REPOST_WORDS + REPOST_ASKS)
                colon = self.rng.choice([":", "："])
                child = self._status(
                    fan, f"{own}//@{spreader['screen_name']}{colon}{repost['text']}", when, root
                )
                if self.rng.random() < 0.3:
                    grand = self.rng.choice(self.fans)
                    self._status(
                        grand,
                        f"//@{fan['screen_name']}:{child['text']}",
                        when + timedelta(minutes=7),
                        root,
                    )
        for _ in range(self.rng.randint(3, 8)):
            when += timedelta(minutes=self.rng.randint(1, 120))
            self._comment(self.rng.choice(self.fans), root, self._words(), when)
        if self.rng.random() < 0.5:
            self._comment(
                self.brand, root, "感谢支持～有问题可以私信我们哦", when + timedelta(minutes=3)
            )

    def _mention(self, moment) -> None:
        author = self.rng.choice(self.fans + self.kols[:1])
        text = f"{self._words()} @{BRAND['screen_name']}"
        others = [s for s in self.statuses.values() if s["user"] is not self.brand]
        if self.rng.random() < 0.3 and others:
            other = self.rng.choice(others)
            self._comment(author, other, f"@{BRAND['screen_name']} {self._words()}", moment)
            return
        self._status(author, text, moment)

    def activity(self, count: int = 3) -> int:
        """New mentions and comments, timed now."""
        with self.lock:
            for i in range(count):
                moment = _now() - timedelta(seconds=count - i)
                self._mention(moment)
                brand_posts = [s for s in self.statuses.values() if s["user"] is self.brand]
                if brand_posts:
                    self._comment(
                        self.rng.choice(self.fans), brand_posts[-1], self._words(), moment
                    )
            return count

    # -- API views ---------------------------------------------------------------------------
    @staticmethod
    def public(obj: dict) -> dict:
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        for key in ("retweeted_status", "status", "reply_comment"):
            if key in out:
                out[key] = World.public(out[key])
        return out

    @staticmethod
    def window(items, params, key=lambda o: o["id"]):
        since = int(params.get("since_id") or 0)
        max_id = int(params.get("max_id") or 0)
        count = min(int(params.get("count") or 20), 200)
        page = max(int(params.get("page") or 1), 1)
        chosen = [o for o in items if key(o) > since and (not max_id or key(o) <= max_id)]
        chosen.sort(key=key, reverse=True)
        return chosen[(page - 1) * count : page * count], len(chosen)

    def listing(self, name, items, params) -> dict:
        page, total = self.window(items, params)
        return {
            name: [self.public(o) for o in page],
            "previous_cursor": 0,
            "next_cursor": page[-1]["id"] if page else 0,
            "total_number": total,
            "hasvisible": False,
        }


class Error(Exception):
    def __init__(self, code: int, message: str, status: int = 400, **extra):
        self.code, self.message, self.status, self.extra = code, message, status, extra


class Handler(BaseHTTPRequestHandler):
    world: World
    hourly_limit = 1000
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(
        self, status: int, body, content_type="application/json; charset=utf-8", headers=None
    ):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _params(self) -> tuple[str, dict]:
        split = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(split.query))
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params["_json"] = json.loads(raw or "{}")
            else:
                params.update(urllib.parse.parse_qsl(raw))
        return split.path, params

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        path, params = self._params()
        try:
            with self.world.lock:
                body = self._route(path, params)
            if isinstance(body, tuple):
                self._send(*body)
            else:
                self._send(200, body)
        except Error as exc:
            self._send(
                exc.status,
                {"request": path, "error_code": exc.code, "error": exc.message, **exc.extra},
            )

    def _token(self, path, params) -> dict:
        header = self.headers.get("Authorization", "")
        token = params.get("access_token") or (header[7:] if header.startswith("OAuth2 ") else "")
        info = self.world.tokens.get(token)
        if info is None:
            raise Error(21332, "invalid_access_token", 401)
        if info.get("revoked"):
            raise Error(21315, "token revoked", 401)
        if info["expires_at"] < time.time():
            raise Error(21327, "expired_token", 401)
        for failure in list(self.world.failures):
            if failure.get("path") in (path, "*"):
                failure["times"] = failure.get("times", 1) - 1
                if failure["times"] <= 0:
                    self.world.failures.remove(failure)
                extra = {}
                if int(failure["error_code"]) in (10022, 10023, 10024):
                    extra["reset_time_in_seconds"] = failure.get("reset_time_in_seconds", 1800)
                raise Error(
                    int(failure["error_code"]),
                    failure.get("error", "sandbox failure"),
                    403,
                    **extra,
                )
        calls = self.world.calls.setdefault(token, [])
        now = time.time()
        calls[:] = [t for t in calls if t > now - 3600]
        if len(calls) >= self.hourly_limit:
            reset = int(3600 - (now - calls[0]))
            raise Error(10023, "User requests out of rate limit!", 403, reset_time_in_seconds=reset)
        calls.append(now)
        return info

    def _route(self, path, params):
        w = self.world
        if path == "/oauth2/authorize":
            if params.get("client_id") != APP_KEY:
                raise Error(21324, "invalid_client")
            code = secrets.token_hex(8)
            w.codes[code] = {
                "redirect_uri": params.get("redirect_uri", ""),
                "uid": params.get("uid", BRAND["uid"]),
            }
            query = urllib.parse.urlencode({"code": code, "state": params.get("state", "")})
            return (
                302,
                b"",
                "text/plain",
                {"Location": f"{params.get('redirect_uri', '')}?{query}"},
            )
        if path == "/oauth2/access_token":
            if params.get("client_id") != APP_KEY or params.get("client_secret") != APP_SECRET:
                raise Error(21324, "invalid_client")
            grant = w.codes.pop(params.get("code", ""), None)
            if grant is None:
                raise Error(
                    21325,
                    "invalid_grant",
                    error_description=f"invalid authorization code:{params.get('code', '')}",
                )
            if grant["redirect_uri"] != params.get("redirect_uri"):
                raise Error(21322, "redirect_uri_mismatch")
            token = "2.00" + secrets.token_hex(12)
            w.tokens[token] = {"uid": grant["uid"], "expires_at": time.time() + 7 * 86400}
            return {
                "access_token": token,
                "expires_in": 7 * 86400,
                "remind_in": str(7 * 86400),
                "uid": grant["uid"],
            }
        if path == "/sandbox/fail":
            w.failures.append(params["_json"])
            return {"ok": True}
        if path == "/sandbox/expire":
            w.tokens[params["_json"]["access_token"]]["expires_at"] = 0
            return {"ok": True}
        if path == "/sandbox/token":
            data = params.get("_json", {})
            token = data.get("access_token") or "2.00" + secrets.token_hex(12)
            w.tokens[token] = {
                "uid": data.get("uid", BRAND["uid"]),
                "expires_at": time.time() + 7 * 86400,
            }
            return {"access_token": token, "uid": data.get("uid", BRAND["uid"])}
        if path == "/sandbox/activity":
            return {"created": w.activity(int(params.get("_json", {}).get("count", 3)))}
        if path == "/sandbox/sent":
            return {"sent": w.sent}
        if path == "/sandbox/push":
            data = params["_json"]
            return {"status": push(data["hook"], data["app_secret"], data["message"])}
        info = self._token(path, params)
        me = info["uid"]
        mine = f"@{w.users[me]['screen_name']}" if me in w.users else "@"
        if path == "/2/statuses/mentions.json":
            items = [
                s
                for s in w.statuses.values()
                if mine in s["text"].split("//@")[0] and s["user"]["idstr"] != me
            ]
            return w.listing("statuses", items, params)
        if path == "/2/comments/mentions.json":
            items = [
                c for c in w.comments.values() if mine in c["text"] and c["user"]["idstr"] != me
            ]
            return w.listing("comments", items, params)
        if path == "/2/comments/to_me.json":
            items = [
                c
                for c in w.comments.values()
                if c["status"]["user"]["idstr"] == me and c["user"]["idstr"] != me
            ]
            return w.listing("comments", items, params)
        if path == "/2/statuses/repost_timeline.json":
            root = w.statuses.get(int(params.get("id") or 0))
            if root is None:
                raise Error(20101, "target weibo does not exist!")
            items = [s for s in w.statuses.values() if s.get("retweeted_status") is root]
            return w.listing("reposts", items, params)
        if path == "/2/statuses/user_timeline.json":
            if params.get("uid", me) != me:
                raise Error(21335, "request uid's value must be the current user")
            items = [s for s in w.statuses.values() if s["user"]["idstr"] == me]
            return w.listing("statuses", items, params)
        if path == "/2/statuses/show.json":
            status = w.statuses.get(int(params.get("id") or 0))
            if status is None:
                raise Error(20101, "target weibo does not exist!")
            return w.public(status)
        if path == "/2/users/show.json":
            user = w.users.get(params.get("uid", "")) or next(
                (u for u in w.users.values() if u["screen_name"] == params.get("screen_name")), None
            )
            if user is None:
                raise Error(20003, "User does not exists!")
            return user
        if path == "/2/users/counts.json":
            uids = [u for u in params.get("uids", "").split(",") if u]
            if not uids or len(uids) > 100:
                raise Error(10017, "parameter (uids)'s value invalid")
            return [
                {
                    "id": uid,
                    "followers_count": str(w.followers.get(uid, w.users[uid]["followers_count"])),
                    "friends_count": str(w.users[uid]["friends_count"]),
                    "statuses_count": str(w.users[uid]["statuses_count"]),
                }
                for uid in uids
                if uid in w.users
            ]
        if path == "/2/statuses/share.json":
            if self.command != "POST":
                raise Error(10021, "HTTP method is not suported for this request!")
            text = params.get("status", "")
            if not text or len(text) > 2000:
                raise Error(10017, "parameter (status)'s value invalid")
            status = w._status(w.users[me], text, _now())
            return w.public(status)
        if path in ("/2/comments/create.json", "/2/comments/reply.json"):
            if self.command != "POST":
                raise Error(10021, "HTTP method is not suported for this request!")
            text = params.get("comment", "")
            if not text or len(text) > 140:
                raise Error(10017, "parameter (comment)'s value invalid")
            status = w.statuses.get(int(params.get("id") or 0))
            if status is None:
                raise Error(20101, "target weibo does not exist!")
            reply_to = None
            if path.endswith("reply.json"):
                reply_to = w.comments.get(int(params.get("cid") or 0))
                if reply_to is None:
                    raise Error(20201, "target weibo comment does not exist")
            comment = w._comment(w.users[me], status, text, _now())
            if reply_to is not None:
                comment["reply_comment"] = {k: v for k, v in reply_to.items() if k != "status"}
            return w.public(comment)
        if path == "/2/mss/msget":
            return weibo_media.msget(self, path, params)
        if path == "/2/messages/reply.json":
            if self.command != "POST":
                raise Error(10021, "HTTP method is not suported for this request!")
            try:
                data = json.loads(params.get("data", ""))
            except json.JSONDecodeError:
                raise Error(10017, "parameter (data)'s value invalid")
            if params.get("type") != "text" or not str(params.get("receiver_id", "")).isdigit():
                raise Error(10017, "parameter (type or receiver_id)'s value invalid")
            w.sent.append(
                {
                    "sender_id": me,
                    "receiver_id": params["receiver_id"],
                    "text": data.get("text", ""),
                }
            )
            return {
                "result": True,
                "sender_id": me,
                "receiver_id": params["receiver_id"],
                "type": "text",
                "id": str(len(w.sent)),
            }
        raise Error(10020, "Request Api not found!", 404)


def push(hook: str, app_secret: str, message: dict) -> int:
    """Sign and POST one fan-service push to the CRM hook; returns the HTTP status."""
    timestamp = str(int(time.time() * 1000))
    nonce = str(random.randint(10**7, 10**8 - 1))  # noqa: S311
    query = urllib.parse.urlencode(
        {
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": signature(app_secret, timestamp, nonce),
        }
    )
    body = json.dumps(message, ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310  the CRM's own hook
        f"{hook}?{query}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def serve(
    port: int = 0, *, seed: int = 2026, days: int = 14, fans: int = 60, hourly_limit: int = 1000
):
    """Start the sandbox in a background thread; returns (server, world)."""
    world = World(seed=seed, days=days, fans=fans)
    handler = type("BoundHandler", (Handler,), {"world": world, "hourly_limit": hourly_limit})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, world


def main() -> None:
    parser = argparse.ArgumentParser(description="Weibo API sandbox")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--hourly-limit", type=int, default=1000)
    parser.add_argument("--token", default="", help="an access token to accept from the start")
    parser.add_argument(
        "--activity-every", type=float, default=0, help="seconds between new mentions"
    )
    args = parser.parse_args()
    server, world = serve(args.port, seed=args.seed, hourly_limit=args.hourly_limit)
    if args.token:
        world.tokens[args.token] = {"uid": BRAND["uid"], "expires_at": time.time() + 7 * 86400}
    print(f"weibo sandbox on http://127.0.0.1:{args.port}", flush=True)
    try:
        while True:
            time.sleep(args.activity_every or 3600)
            if args.activity_every:
                world.activity(1)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
