"""The webhooks' short request path (issue #17): `/hooks/...` through crm.wsgi skips the browser
middleware and keeps what a webhook needs; the account cache follows account changes at once;
outside a transaction a replay adds no row and one drain request serves a burst."""

import io
import sys
import time
import urllib.parse
from contextlib import contextmanager

import pytest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections, connection

from channels_wechat import protocol
from channels_wechat.models import OfficialAccount
from crm import ingestion, webhooks
from crm.models import RawDelivery
from crm.webhooks import _hook_routes
from crm.wsgi import application
from tests.conftest import clear_own_cache

APPID, TOKEN = "wxpath0000000001", "path-token"


@contextmanager
def connection_kept():
    """Like Django's test client: requests do not close the test's database connection at
    their start and end; this process's cache starts and ends empty."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    clear_own_cache()
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        clear_own_cache()


@pytest.fixture
def wsgi(db):
    """crm.wsgi.application called in-process (`call`), as gunicorn calls it."""
    with connection_kept():
        yield call


@pytest.fixture
def committed(transactional_db, published):
    """For tests outside a transaction (transaction=True): the account committed, so other
    connections and threads see it, and `call` keeping the test's connection."""
    with connection_kept():
        yield OfficialAccount.objects.create(
            appid=APPID, name="路径号", app_secret="s", token=TOKEN, mode="plaintext"
        )


def call(method: str, path: str, body: bytes = b"", query: str = "", host: str = "127.0.0.1"):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "REMOTE_ADDR": "203.0.113.9",
    }
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    chunks = application(environ, start_response)
    try:
        answer["body"] = b"".join(chunks)
    finally:
        chunks.close()
    return answer


@pytest.fixture
def account(db):
    return OfficialAccount.objects.create(
        appid=APPID, name="路径号", app_secret="s", token=TOKEN, mode="plaintext"
    )


def push(msg_id: int, token: str = TOKEN) -> tuple[str, bytes]:
    timestamp, nonce = str(int(time.time())), f"{msg_id}77"
    body = (
        "<xml><ToUserName><![CDATA[gh_path]]></ToUserName>"
        "<FromUserName><![CDATA[oPath1]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[在吗]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()
    query = urllib.parse.urlencode(
        {
            "signature": protocol.sha1_signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
    )
    return query, body


def test_only_webhook_views_are_routed_under_the_webhook_prefix():
    # What HookApp routes: every URLconf pattern under WEBHOOK_PREFIX.
    under = {str(pattern): f"{view.__module__}.{view.__name__}" for pattern, view in _hook_routes()}
    assert under == {
        "hooks/wechat/<str:appid>": "channels_wechat.hooks.wechat_hook",
        "hooks/weibo/<str:uid>": "channels_weibo.hooks.fanservice_hook",
        "hooks/wechatpay/<str:mchid>": "members.hooks.wechatpay_v2",
        "hooks/wechatpay/<str:mchid>/v3": "members.hooks.wechatpay_v3",
    }


def test_a_push_skips_the_browser_middleware_and_keeps_security_headers(wsgi, account):
    query, body = push(1)
    answer = wsgi("POST", f"/hooks/wechat/{APPID}", body, query)
    assert (answer["status"], answer["body"]) == (200, b"success")
    # No session, locale, CSRF or clickjacking middleware ran; SecurityMiddleware did.
    assert "Vary" not in answer["headers"]
    assert "Set-Cookie" not in answer["headers"]
    assert "X-Frame-Options" not in answer["headers"]
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert RawDelivery.objects.filter(account=APPID, source="wechat").count() == 1
    # Every other path still goes through the browser middleware.
    page = wsgi("GET", "/admin/login/")
    assert page["status"] == 200
    assert page["headers"]["X-Frame-Options"] == "DENY"
    assert "Cookie" in page["headers"]["Vary"]


def asgi_call(method: str, path: str, body: bytes = b"", query: str = "") -> dict:
    """crm.asgi.application called in-process, as Daphne calls it (one HTTP request)."""
    from asgiref.sync import async_to_sync
    from asgiref.testing import ApplicationCommunicator

    from crm.asgi import application as asgi_application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"text/xml"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("203.0.113.9", 40000),
        "server": ("127.0.0.1", 80),
    }

    async def run() -> dict:
        talk = ApplicationCommunicator(asgi_application, scope)
        await talk.send_input({"type": "http.request", "body": body})
        start = await talk.receive_output(10)
        answer = {"status": start["status"], "headers": {}, "body": b""}
        for name, value in start["headers"]:
            answer["headers"][name.decode().title()] = value.decode()
        while True:
            part = await talk.receive_output(10)
            answer["body"] += part.get("body", b"")
            if not part.get("more_body"):
                return answer

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_under_daphne_a_push_takes_the_same_short_path(published):
    # Each request runs in a thread of its own with its own connection, as under Daphne: the
    # account is committed for it to see.
    clear_own_cache()
    OfficialAccount.objects.create(
        appid=APPID, name="路径号", app_secret="s", token=TOKEN, mode="plaintext"
    )
    finished: list[object] = []

    def record(sender, **kwargs):
        finished.append(sender)

    request_finished.connect(record)
    try:
        query, body = push(4)
        answer = asgi_call("POST", f"/hooks/wechat/{APPID}", body, query)
    finally:
        request_finished.disconnect(record)
        clear_own_cache()
    assert (answer["status"], answer["body"]) == (200, b"success")
    assert "Vary" not in answer["headers"] and "Set-Cookie" not in answer["headers"]
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert RawDelivery.objects.filter(account=APPID, source="wechat").count() == 1
    # The request ended as Django ends one: request_finished (stale connections closed) sent.
    assert len(finished) == 1
    assert asgi_call("PUT", f"/hooks/wechat/{APPID}")["status"] == 405
    assert asgi_call("GET", "/hooks/nothing-here")["status"] == 404
    # Every other path still goes through Django's handler and the browser middleware.
    page = asgi_call("GET", "/admin/login/")
    assert page["status"] == 200
    assert page["headers"]["X-Frame-Options"] == "DENY"


def test_a_push_to_a_host_not_allowed_is_refused_400(wsgi, account):
    query, body = push(2)
    answer = wsgi("POST", f"/hooks/wechat/{APPID}", body, query, host="evil.example")
    assert answer["status"] == 400
    assert RawDelivery.objects.count() == 0


def test_database_down_on_the_short_path_answers_500_never_success(wsgi, account):
    def refuse(execute, sql, params, many, context):
        if "crm_rawdelivery" in sql or sql.startswith("EXECUTE crm_store"):
            raise OperationalError("could not connect to server: Connection refused")
        return execute(sql, params, many, context)

    query, body = push(3)
    with connection.execute_wrapper(refuse):
        answer = wsgi("POST", f"/hooks/wechat/{APPID}", body, query)
    assert answer["status"] == 500
    assert answer["body"] != b"success"
    assert RawDelivery.objects.count() == 0
    # The retry (same signed push) is stored: it was not remembered as seen.
    assert wsgi("POST", f"/hooks/wechat/{APPID}", body, query)["body"] == b"success"
    assert RawDelivery.objects.count() == 1


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple] = []

    def record(task_name, *args):
        sent.append((task_name, *args))
        return True

    monkeypatch.setattr(ingestion, "publish", record)
    return sent


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_replay_adds_no_row_and_one_drain_serves_both(committed, published):
    first, second = push(10), push(11)
    answers = [call("POST", f"/hooks/wechat/{APPID}", b, q)["body"] for q, b in (first, second)]
    replay = call("POST", f"/hooks/wechat/{APPID}", first[1], first[0])["body"]
    assert answers == [b"success", b"success"]
    assert replay == b"success"
    assert RawDelivery.objects.filter(source="wechat").count() == 2  # the replay: not stored
    # One drain requested for both pushes: the flag stopped the second publish.
    assert published == [(ingestion.DRAIN_TASK, "wechat", 0)]


@pytest.mark.django_db(transaction=True)
def test_an_account_change_reaches_the_hook_at_once(committed):
    account = committed
    query, body = push(20)
    assert call("POST", f"/hooks/wechat/{APPID}", body, query)["status"] == 200  # cached
    account.token = "rotated-token"
    account.save()
    old = push(21)
    assert call("POST", f"/hooks/wechat/{APPID}", old[1], old[0])["status"] == 403
    new = push(22, token="rotated-token")
    assert call("POST", f"/hooks/wechat/{APPID}", new[1], new[0])["status"] == 200
    account.active = False
    account.save()
    gone = push(23, token="rotated-token")
    assert call("POST", f"/hooks/wechat/{APPID}", gone[1], gone[0])["status"] == 404
    assert RawDelivery.objects.filter(source="wechat").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_change_saved_by_another_process_reaches_the_hook_within_a_second(committed, monkeypatch):
    """Another process's save drops its own copy and writes a new version (AccountCache); this
    process checks the version of a copy at most ACCOUNT_FRESH_SECONDS after it last did."""
    from django.core.cache import cache

    from channels_wechat.hooks import ACCOUNTS

    account = committed
    now = [time.monotonic()]
    monkeypatch.setattr(webhooks, "_clock", lambda: now[0])
    first = push(70)
    assert call("POST", f"/hooks/wechat/{APPID}", first[1], first[0])["status"] == 200
    # What a save in another process does here: the row, then the version.
    OfficialAccount.objects.filter(pk=account.pk).update(token="rotated-token")
    cache.set(ACCOUNTS.version_key(APPID), "another-process", None)
    now[0] += webhooks.ACCOUNT_FRESH_SECONDS - 0.01
    within = push(71)
    answers = [call("POST", f"/hooks/wechat/{APPID}", within[1], within[0])["status"]]
    now[0] += 0.02
    old, new = push(72), push(73, token="rotated-token")
    answers += [call("POST", f"/hooks/wechat/{APPID}", b, q)["status"] for q, b in (old, new)]
    # The copy checked under a second ago still verifies; past the second, the row.
    assert answers == [200, 403, 200]


@pytest.mark.django_db(transaction=True)
def test_the_same_push_at_the_same_moment_is_stored_once_and_answered_each_time(
    committed, published
):
    import threading

    from django.db import connections

    query, body = push(30)
    barrier = threading.Barrier(4)
    answers: list[tuple[int, bytes]] = []

    def deliver() -> None:
        barrier.wait()
        try:
            answer = call("POST", f"/hooks/wechat/{APPID}", body, query)
            answers.append((answer["status"], answer["body"]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(200, b"success")] * 4
    assert RawDelivery.objects.filter(source="wechat").count() == 1
    assert published == [(ingestion.DRAIN_TASK, "wechat", 0)]


@pytest.mark.django_db(transaction=True)
def test_pushes_naming_unknown_accounts_leave_nothing_in_the_process(committed):
    """A URL can name any appid: each unknown one is answered 404 and kept nowhere, so a flood
    of made-up appids cannot grow a web process's account copies."""
    from channels_wechat.hooks import ACCOUNTS

    ACCOUNTS.entries.clear()  # this process's copies, from tests run before in it
    query, body = push(30)
    statuses = [
        call("POST", f"/hooks/wechat/wxunknown{n:08d}", body, query)["status"] for n in range(50)
    ]
    assert call("POST", f"/hooks/wechat/{APPID}", body, query)["status"] == 200
    held = sorted(ACCOUNTS.entries)
    assert statuses == [404] * 50
    assert held == [APPID]


def test_the_hook_path_answers_what_it_does_not_route_as_django_would(wsgi, account):
    query, body = push(40)
    nowhere = wsgi("POST", "/hooks/nothing/here", body, query)
    assert nowhere["status"] == 404
    # WeChat Pay notifications are POSTed: a GET is 405, with the methods allowed.
    wrong = wsgi("GET", "/hooks/wechatpay/1900000109")
    assert (wrong["status"], wrong["headers"]["Allow"]) == (405, "POST")
    # More query fields than Django accepts (DATA_UPLOAD_MAX_NUMBER_FIELDS): 400, as QueryDict.
    flood = wsgi("POST", f"/hooks/wechat/{APPID}", body, query + "&x=1" * 1000)
    assert flood["status"] == 400
    assert RawDelivery.objects.count() == 0


def test_an_error_in_a_hook_is_a_logged_500(wsgi, account, monkeypatch, caplog):
    from channels_wechat import hooks

    def broken(*args, **kwargs):
        raise RuntimeError("the hook broke")

    monkeypatch.setattr(hooks, "store_push_once", broken)
    query, body = push(41)
    answer = wsgi("POST", f"/hooks/wechat/{APPID}", body, query)
    assert answer["status"] == 500
    assert answer["body"] != b"success"
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == f"Internal Server Error: /hooks/wechat/{APPID}"
    assert record.exc_info[1].args == ("the hook broke",)


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_lost_the_prepared_insert_answers_500_once_then_stores(committed):
    """A session reset (a pooler's DISCARD ALL) drops the prepared INSERT: the push that finds
    it gone gets a 500 (the platform sends it again) and the next one prepares it again."""
    from django.test import override_settings

    first = push(50)
    assert call("POST", f"/hooks/wechat/{APPID}", first[1], first[0])["body"] == b"success"
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {ingestion.STORE_ONCE.name}")
    second = push(51)
    assert call("POST", f"/hooks/wechat/{APPID}", second[1], second[0])["status"] == 500
    assert call("POST", f"/hooks/wechat/{APPID}", second[1], second[0])["status"] == 200
    # Behind a pooler in transaction mode: plain SQL, nothing prepared.
    with override_settings(DB_PREPARED_STATEMENTS=False), connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {ingestion.STORE_ONCE.name}")
        third = push(52)
        answer = call("POST", f"/hooks/wechat/{APPID}", third[1], third[0])
        cursor.execute("SELECT name FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    assert answer["body"] == b"success"
    assert prepared == []
    assert sorted(RawDelivery.objects.values_list("query__nonce", flat=True)) == [
        "5077",
        "5177",
        "5277",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_new_database_connection_gets_a_new_kept_cursor(committed):
    """The hooks' INSERT keeps its cursor while the database connection lasts
    (crm.ingestion._autocommit_cursor); a push after the connection was closed (its age, an
    error: close_old_connections) stores through a cursor of the new one."""
    answers = [call("POST", f"/hooks/wechat/{APPID}", b, q)["body"] for q, b in (push(80),)]
    kept = ingestion._HELD.cursor
    connection.close()
    answers += [call("POST", f"/hooks/wechat/{APPID}", b, q)["body"] for q, b in (push(81),)]
    renewed = ingestion._HELD.cursor
    assert answers == [b"success", b"success"]
    assert renewed[0] is not kept[0] and renewed[0] is connection.connection
    assert RawDelivery.objects.filter(source="wechat").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_dropped_redis_connection_costs_one_push_its_shortcut_not_its_answer(
    committed, published, monkeypatch
):
    """The hooks' held Redis connection (crm.ingestion.redis_command) closed by the server:
    the push that finds it closed reads its account from the database instead of the version
    in Redis, the next command opens a new connection, and every push is stored."""
    import redis as redis_py
    from django.conf import settings
    from django.test.utils import CaptureQueriesContext

    admin = redis_py.Redis.from_url(settings.REDIS_URL)
    account_reads = []
    try:
        first = push(60)
        assert call("POST", f"/hooks/wechat/{APPID}", first[1], first[0])["body"] == b"success"
        assert ingestion.redis_command(ingestion._redis_client(), "CLIENT", "SETNAME", "hook")
        held = next(c for c in admin.client_list() if c["name"] == "hook")
        assert admin.client_kill_filter(_id=held["id"]) == 1
        ingestion.clear_drain_request("wechat")
        # A second on: the copy's version is due to be checked again (ACCOUNT_FRESH_SECONDS).
        later = time.monotonic() + webhooks.ACCOUNT_FRESH_SECONDS
        monkeypatch.setattr(webhooks, "_clock", lambda: later)
        answers = []
        for query, body in (push(61), push(62), push(63)):
            with CaptureQueriesContext(connection) as queries:
                answers.append(call("POST", f"/hooks/wechat/{APPID}", body, query)["body"])
            account_reads.append(
                sum("officialaccount" in q["sql"] for q in queries.captured_queries)
            )
    finally:
        admin.close()
    assert answers == [b"success"] * 3
    # Redis did not answer: the row, and no copy kept; read with a version, kept; then used.
    assert account_reads == [1, 1, 0]
    assert RawDelivery.objects.filter(source="wechat").count() == 4
    # The first push's drain, and the one the second requested on the new connection.
    assert published == [(ingestion.DRAIN_TASK, "wechat", 0)] * 2


def test_the_test_client_sends_hooks_through_the_hooks_own_path(client, account):
    # So every hook test in the suite tests what the platforms reach (tests/hook_client.py).
    query, body = push(5)
    response = client.post(f"/hooks/wechat/{APPID}?{query}", body, content_type="text/xml")
    assert response.content == b"success"
    assert type(response.wsgi_request) is webhooks.HookRequest
    assert "Vary" not in response  # no LocaleMiddleware: Django's full stack adds it
    assert type(client.get("/admin/login/").wsgi_request) is not webhooks.HookRequest


def test_the_live_server_sends_hooks_through_the_hooks_own_path(live_server):
    import urllib.error
    import urllib.request

    OfficialAccount.objects.create(
        appid=APPID, name="路径号", app_secret="s", token=TOKEN, mode="plaintext"
    )
    clear_own_cache()
    query, body = push(6)
    request = urllib.request.Request(
        f"{live_server.url}/hooks/wechat/{APPID}?{query}", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  the test's server
        assert (answer.status, answer.read()) == (200, b"success")
        assert answer.headers.get("Vary") is None  # no LocaleMiddleware
    with urllib.request.urlopen(f"{live_server.url}/admin/login/", timeout=10) as page:  # noqa: S310
        assert "Accept-Language" in page.headers.get("Vary", "")
    clear_own_cache()
