"""Raw-first ingestion shared by every webhook: store, acknowledge, process later, never lose.

A hook verifies the request, calls `store_raw_delivery` (its own transaction: if the database is
down this raises and the hook answers 5xx so the platform retries), then `enqueue_delivery`, which
publishes the processing task after commit. If the broker is down the publish fails quietly: the
row stays `pending` and `sweep_raw_deliveries` (a beat task) publishes it again later.
Processing goes through `run_processor`, which locks the row, so a delivery processed twice, or by
two workers at once, has its effect once.

Channel apps register their processing task by name (`register_processor`) in AppConfig.ready;
crm never imports them.

A source whose processor can also work in batches registers a batch function as well. Its
hooks then do not publish one task per delivery: they ask for a *drain*
(`crm.tasks.drain_raw_deliveries_task`), one queued or running per source (a flag in the
cache; a drain that meets a backlog asks for up to RAW_DELIVERY_DRAINS), which claims pending deliveries in id order, `RAW_DELIVERY_BATCH_SIZE` (a setting) at a time with
`SKIP LOCKED`, and hands each batch to the batch function in one transaction. A batch that
raises is processed again one delivery at a time through `run_processor`, so one bad push fails
alone and the rest are stored. Deliveries the batch function leaves out (it returns the keys of
those it handled) go the same one-at-a-time way.
"""

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.http.request import HttpHeaders
from django.utils import timezone
from django.utils.module_loading import import_string

from .bulk import update_rows
from .models import RawDelivery
from .prepared import Prepared
from .tasks_queue import publish

logger = logging.getLogger(__name__)

PROCESSORS: dict[str, str] = {}
BATCH_PROCESSORS: dict[str, str] = {}
DRAIN_TASK = "crm.tasks.drain_raw_deliveries_task"
# How long a drain's flag lasts unless the drain renews it (after each batch): a drain lost
# with its worker stops new pushes from requesting one for at most this long.
DRAIN_FLAG_SECONDS = 10
MAX_ATTEMPTS = 5
# What each thread keeps for its next push: a Redis connection, a database cursor.
_HELD = threading.local()
# Headers worth keeping for inspection and signature checks; cookies and auth never are.
_DROPPED_HEADERS = {"Cookie", "Authorization", "Proxy-Authorization"}


def register_processor(source: str, task_name: str, batch: str | None = None) -> None:
    """Declare which Celery task processes raw deliveries of `source` (takes the delivery id).

    `batch`, if given, is the dotted path of a function taking a list of locked RawDelivery rows
    (in id order) and returning {delivery id: dedupe key} for those it processed; the source's
    deliveries are then processed by drains (see the module docstring).
    """
    PROCESSORS[source] = task_name
    if batch:
        BATCH_PROCESSORS[source] = batch
    else:
        BATCH_PROCESSORS.pop(source, None)


def one_by_one(rows: list[RawDelivery]) -> dict[int, str]:
    """The batch function of a source processed one delivery at a time (WeChat Pay, Weibo):
    it takes none in the batch, so the drain runs the source's task on each (run_processor).
    Its hooks then request a drain, one Redis flag per burst, instead of publishing a task
    for every push: a Celery publish costs a webhook more CPU than storing the push."""
    return {}


def store_raw_delivery(
    *,
    source: str,
    account: str,
    request,
    body: bytes,
    status: str = RawDelivery.Status.PENDING,
    error: str = "",
) -> RawDelivery:
    """Store one delivery as received. Own transaction; database errors propagate.

    One `INSERT` in autocommit: committed (durable) when this returns, so the hook may answer
    `success`. Inside a transaction (tests, a caller's atomic block) it is a savepoint of it.
    """
    values = _row(source, account, request, body, status, error)
    pk = _store(values, None)
    assert pk is not None  # noqa: S101  no push key: nothing to conflict with
    return RawDelivery(pk=pk, **values)


def _row(source: str, account: str, request, body: bytes, status: str, error: str) -> dict:
    return {
        "source": source,
        "account": account[:64],
        "method": request.method,
        "path": request.path[:255],
        "query": dict(request.GET.items()),
        "headers": _headers(request.META),
        "body": bytes(body),
        "remote_addr": request.META.get("REMOTE_ADDR", "")[:64],
        "received_at": timezone.now(),
        "status": status,
        "error": error,
        "attempts": 0,
        "processed_at": None,
        "dedupe_key": "",
    }


def _headers(environ: dict) -> dict[str, str]:
    """The request's headers as request.headers names them, less _DROPPED_HEADERS: named by
    Django's own rule in one pass (request.headers builds a case-insensitive mapping first,
    which cost a webhook a twentieth of its CPU)."""
    found = {}
    for key, value in environ.items():
        name = HttpHeaders.parse_header_name(key)
        if name is not None and name not in _DROPPED_HEADERS:
            found[name] = value
    return found


def _store(values: dict, key: str | None) -> int | None:
    """INSERT one RawDelivery row with exactly these field values (and `push_key` = `key`, if
    given); its id, or None if a row with this push key exists (committed: the INSERT waits for
    a transaction inserting the same key, and stores the row if that one rolls back).

    The ORM's `create` sends the same statement, after model signals, per-save SQL compilation
    and per-field conversions that cost a webhook more CPU than the statement: here the SQL is
    built once and the two JSON fields are encoded as JSONField stores them.
    """
    if key is None:
        insert, values = STORE, values
    else:
        insert, values = STORE_ONCE, {**values, "push_key": key}
    params = {name: json.dumps(v) if name in _JSON else v for name, v in values.items()}
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            insert.execute(cursor, params)
            row = cursor.fetchone()
    else:
        cursor = _autocommit_cursor(connection)
        insert.execute(cursor, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def _autocommit_cursor(connection):
    """A Django cursor of `connection` (not in a transaction), kept for the next push while the
    same database connection lasts.

    Opening and closing a cursor per push (connection checks, a psycopg2 cursor, its wrapper)
    cost 50 us of a hook's CPU, about as much as the INSERT's own execute (one process,
    2026-12-07). A kept cursor runs its statements the same way: execute wrappers, errors
    translated and marking the connection for close_old_connections. A connection that logs its
    queries (DEBUG, a test counting them) gets a new cursor each time, which logs them."""
    if connection.queries_logged:
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    held = getattr(_HELD, "cursor", None)
    if held is None or held[0] is not raw:
        held = _HELD.cursor = (raw, connection.cursor())
    return held[1]


_JSON = ("query", "headers")
# The columns of _row's values, in order, with their PostgreSQL types.
_COLUMNS = {
    "source": "varchar",
    "account": "varchar",
    "method": "varchar",
    "path": "varchar",
    "query": "jsonb",
    "headers": "jsonb",
    "body": "bytea",
    "remote_addr": "varchar",
    "received_at": "timestamptz",
    "status": "varchar",
    "error": "text",
    "attempts": "integer",
    "processed_at": "timestamptz",
    "dedupe_key": "varchar",
}


def _insert_sql(columns: list[str], on_conflict: str = "") -> str:
    from django.db import connection

    quote = connection.ops.quote_name
    column = {f.name: str(f.column) for f in RawDelivery._meta.concrete_fields}
    return (
        f"INSERT INTO {quote(RawDelivery._meta.db_table)} "  # noqa: S608  names from the model
        f"({', '.join(quote(column[name]) for name in columns)}) "
        f"VALUES ({', '.join(f'%({name})s' for name in columns)}) {on_conflict}RETURNING id"
    )


# Prepared once per connection (crm.prepared): PostgreSQL parsed and planned the INSERT on every
# push, 70 us of its CPU a push of 330 (one backend, 4,000 inserts, 2026-12-07); prepared, the
# same as the minimal baseline's three-value INSERT (260-275 us).
STORE = Prepared("crm_store_delivery", _COLUMNS, lambda: _insert_sql(list(_COLUMNS)))
# The conflict target is the partial unique index raw_push_key_uniq.
STORE_ONCE = Prepared(
    "crm_store_push_once",
    {**_COLUMNS, "push_key": "varchar"},
    lambda: _insert_sql(
        [*_COLUMNS, "push_key"],
        'ON CONFLICT ("push_key") WHERE "push_key" IS NOT NULL DO NOTHING ',
    ),
)


def store_push_once(
    source: str, account: str, request, body: bytes, *, signed: bytes
) -> int | None:
    """Store a verified push and request its processing, unless this signed push is stored
    already; the new delivery's id, or None for a replay (answered like the first delivery).

    `signed` identifies the push: exactly what its signature covers, normalised so that a
    replay cannot vary it (the query's signature, timestamp and nonce for WeChat and the Weibo
    fan service, whose signatures leave the body out; the signed fields or ciphertext for
    WeChat Pay). Its hash (`push_key`) is unique in RawDelivery, so a replay, even one sent at
    the same moment as the first delivery, adds no row and requests nothing: the first one's
    drain request covers it. A replay is answered only once the first delivery is committed.
    One refused while the database was down left no row, so its retry is stored.
    """
    values = _row(source, account, request, body, RawDelivery.Status.PENDING, "")
    pk = _store(values, push_key(source, account, signed))
    if pk is not None:
        _request_processing(source, pk)
    return pk


def _request_processing(source: str, pk: int) -> None:
    """After a push is committed: request a drain (one Redis round trip, SET NX of the flag)
    or publish its processing task.

    Same outcome as `enqueue_delivery`, which is what runs inside a transaction (publishing must
    wait for the commit) or with another cache backend.
    """
    client = _redis_client()
    if client is None or transaction.get_connection().in_atomic_block:
        enqueue_delivery(RawDelivery(pk=pk, source=source))
        return
    if source not in BATCH_PROCESSORS:
        _publish(source, pk)
        return
    linger = _linger_seconds()
    began = _clock()
    if began - _FLAG_SEEN.get(source, -linger) < linger:
        return  # a drain will look at the table after this commit (see drain)
    flag = _drain_flag(source, 0)
    try:
        key = redis_key(client, flag)
        ours = redis_command(client, "SET", key, 1, "EX", DRAIN_FLAG_SECONDS, "NX") is not None
        _FLAG_SEEN[source] = began  # the flag was there from `began` on: set, or found
    except Exception:  # noqa: BLE001  the cache is down: publish without the flag
        ours = True
    if ours and not publish(DRAIN_TASK, source, 0):
        _FLAG_SEEN.pop(source, None)
        _clear_flag(flag)  # the sweep requests the drain again


# When this process last saw a source's drain flag (time.monotonic(): set it, or found it set).
# Within RAW_DELIVERY_DRAIN_LINGER of that, its pushes request nothing: the flag was there then,
# so it is cleared later than that by a drain, which then looks at the table for
# RAW_DELIVERY_DRAIN_LINGER more before it stops, after these pushes' commits (drain). One SET
# NX a push was one of the hook's two round trips, and each round trip a worker waits for cost
# it more CPU under load than its command.
_FLAG_SEEN: dict[str, float] = {}
_clock = time.monotonic


def _linger_seconds() -> float:
    """settings.RAW_DELIVERY_DRAIN_LINGER, or 0 where tasks run inline (a drain run by the push
    that requested it must not wait)."""
    if current_app.conf.task_always_eager:
        return 0.0
    return settings.RAW_DELIVERY_DRAIN_LINGER


_CLIENTS: dict[int, object] = {}


def _redis_client():
    """The cache's Redis client (one per process and connection pool), if the cache is
    Django's RedisCache; else None. RedisCache builds a client for every call, which costs a
    webhook more CPU than the command it sends."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    pool = backend._cache._get_connection_pool(True)
    client = _CLIENTS.get(id(pool))
    if client is None or client.connection_pool is not pool:
        client = _CLIENTS[id(pool)] = backend._cache._client(connection_pool=pool)
    return client


def redis_key(client, key: str) -> str:
    """The Redis key of cache key `key` (its prefix and version added, as the cache does),
    remembered per client (up to REDIS_KEYS_KEPT: URLs name accounts that may not exist): a hook
    asks for the same few keys on every push."""
    keys = client.__dict__.setdefault("crm_keys", {})
    raw = keys.get(key)
    if raw is None:
        raw = cache.make_and_validate_key(key)
        if len(keys) < REDIS_KEYS_KEPT:
            keys[key] = raw
    return raw


REDIS_KEYS_KEPT = 1000


def cache_get_raw(key: str):
    """The raw value of this cache key in one round trip: b"" if missing, None if the cache is
    down or not Redis (then callers read what they need elsewhere)."""
    client = _redis_client()
    if client is None:
        return None
    try:
        value = redis_command(client, "GET", redis_key(client, key))
    except Exception:  # noqa: BLE001  the cache is down: as if it held nothing
        return None
    return b"" if value is None else value


def redis_command(client, *args):
    """Send one command on this thread's own connection to the cache's Redis and return the
    raw reply; raises (and drops the connection, the next call opens another) on any failure.

    The client's own call takes a connection from its pool and gives it back, checking it each
    time: 40-60 us of CPU a command against 16-19 us on a held connection (2026-12-07, one
    process), and a push sends two (the account version, the drain flag). The connection is
    made by the client's pool, with its address, database, password and timeouts."""
    pool = client.connection_pool
    held = getattr(_HELD, "redis", None)
    if held is None or held[0] is not pool:
        held = _HELD.redis = (pool, pool.make_connection())
    connection = held[1]
    try:
        connection.send_command(*args)
        return connection.read_response()
    except BaseException:
        connection.disconnect()
        raise


def push_key(source: str, account: str, signed: bytes) -> str:
    """RawDelivery.push_key of a verified push: what its signature covers (store_push_once),
    within its source and account."""
    return hashlib.sha256(f"{source}\n{account}\n".encode() + signed).hexdigest()


def _publish(source: str, delivery_id: int) -> bool:
    task_name = PROCESSORS.get(source)
    if task_name is None:
        logger.error("no processor registered for raw deliveries of %s", source)
        return False
    # False leaves the row pending: the sweep publishes it again.
    return publish(task_name, delivery_id)


def enqueue_delivery(delivery: RawDelivery) -> None:
    """Publish the processing task (or request a drain) once the current transaction commits."""
    source, pk = delivery.source, delivery.pk
    if source in BATCH_PROCESSORS:
        transaction.on_commit(lambda: request_drain(source))
    else:
        transaction.on_commit(lambda: _publish(source, pk))


def _drain_flag(source: str, slot: int) -> str:
    return f"drain-requested:{source}:{slot}"


def request_drain(source: str, slot: int = 0) -> bool:
    """Publish drain number `slot` of `source` unless it is already queued or running. True if
    it is (or may be).

    Hooks ask for slot 0; a drain that finds a backlog (a full batch) asks for the next slot,
    up to RAW_DELIVERY_DRAINS drains side by side, one per worker process. The flag is set
    before publishing and cleared by the drain before its last look at the table, so a
    delivery committed before this call is always seen by some drain. If the cache is down a
    drain is published anyway (drains are safe to run side by side); if the broker is down the
    flag is cleared and the sweep publishes the deliveries later.
    """
    flag = _drain_flag(source, slot)
    try:
        if not cache.add(flag, 1, DRAIN_FLAG_SECONDS):
            return True
    except Exception:  # noqa: BLE001, S110  cache down: publish without the flag
        pass
    if not publish(DRAIN_TASK, source, slot):
        _clear_flag(flag)  # the sweep requests the drain again
        return False
    return True


def _clear_flag(flag: str) -> None:
    try:
        cache.delete(flag)
    except Exception:  # noqa: BLE001, S110  cache down: the flag expires on its own
        pass


def _renew_flag(flag: str) -> None:
    try:
        cache.touch(flag, DRAIN_FLAG_SECONDS)
    except Exception:  # noqa: BLE001, S110  cache down: drains run without flags
        pass


def clear_drain_request(source: str) -> None:
    """Forget that drains of `source` were requested: the next push requests one."""
    _FLAG_SEEN.pop(source, None)
    for slot in range(settings.RAW_DELIVERY_DRAINS):
        _clear_flag(_drain_flag(source, slot))


def drain(source: str, batch_size: int | None = None, slot: int = 0) -> int:
    """Process every pending delivery of `source` in batches; returns how many were handled.

    Safe to run side by side with other drains and with `run_processor` (rows are claimed with
    SKIP LOCKED and processed once).
    """
    process_batch = import_string(BATCH_PROCESSORS[source])
    batch_size = batch_size or settings.RAW_DELIVERY_BATCH_SIZE
    total = 0
    wait = 0.0 if current_app.conf.task_always_eager else settings.RAW_DELIVERY_BATCH_WAIT
    while True:
        began = _clock()
        handled = _drain_batch(source, process_batch, batch_size)
        _renew_flag(_drain_flag(source, slot))
        if handled >= batch_size and slot + 1 < settings.RAW_DELIVERY_DRAINS:
            request_drain(source, slot + 1)  # a backlog: another worker process joins in
        if not handled:
            # New pushes request a new drain from now on; more looks for those committed
            # before the flag went, and by processes that saw it within the linger.
            _clear_flag(_drain_flag(source, slot))
            handled = _last_looks(source, process_batch, batch_size)
            if not handled:
                return total
        elif handled < batch_size:
            # A short batch: the next one gathers for the rest of the wait (no row is locked
            # meanwhile). A batch's fixed statements cost more than its rows below a few dozen
            # pushes: 1.54 ms of a worker's CPU a delivery in batches of 10, 0.63 in batches of
            # 50; under 500 pushes a second the batches held about ten (bench/live_inbox.py).
            time.sleep(max(0.0, began + wait - _clock()))
        total += handled


def _last_looks(source: str, process_batch: Callable, batch_size: int) -> int:
    """After a drain cleared its flag: look for pending deliveries until one batch finds some
    (handled, returned) or a look begun at least the linger after the clear finds none (0).
    A web process that saw the flag before the clear skips requesting drains for at most the
    linger after that (_FLAG_SEEN), so its pushes are committed before that last look."""
    deadline = _clock() + _linger_seconds()
    while True:
        last = _clock() >= deadline
        handled = _drain_batch(source, process_batch, batch_size)
        if handled or last:
            return handled
        time.sleep(min(LINGER_POLL_SECONDS, max(deadline - _clock(), 0.0)))


LINGER_POLL_SECONDS = 0.05


def _drain_batch(source: str, process_batch: Callable, batch_size: int) -> int:
    with transaction.atomic():
        rows = list(
            RawDelivery.objects.select_for_update(skip_locked=True)
            .filter(source=source, status=RawDelivery.Status.PENDING)
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0
        try:
            with transaction.atomic():
                keys = process_batch(rows)
        except Exception:  # noqa: BLE001  processed again one by one below, errors recorded
            logger.warning(
                "batch of %s %s deliveries failed; processing them one by one",
                len(rows),
                source,
                exc_info=True,
            )
            keys = {}
        now = timezone.now()
        done = [row for row in rows if row.pk in keys]
        for row in done:
            row.status = RawDelivery.Status.PROCESSED
            row.processed_at = now
            row.error = ""
            row.dedupe_key = (keys[row.pk] or "")[:128]
            row.attempts += 1
        update_rows(done, ["status", "processed_at", "error", "dedupe_key", "attempts"])
    task = current_app.tasks[PROCESSORS[source]]
    for row in rows:
        if row.pk not in keys:
            task(row.pk)  # in this process: run_processor records a failure on the row
    return len(rows)


def run_processor(delivery_id: int, process: Callable[[RawDelivery], str | None]) -> str:
    """Run `process` on a stored delivery exactly once; returns the delivery's final status.

    The row is locked for the whole run, so concurrent runs wait and then see it processed.
    `process` returns an optional dedupe key to store. Its exceptions mark the row `failed` (the
    sweep retries it up to MAX_ATTEMPTS times) and are logged, not raised.
    """
    with transaction.atomic():
        delivery = RawDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return "missing"
        if delivery.status in (RawDelivery.Status.PROCESSED, RawDelivery.Status.REJECTED):
            return delivery.status
        delivery.attempts += 1
        try:
            with transaction.atomic():
                dedupe_key = process(delivery)
        except Exception as exc:  # noqa: BLE001  recorded on the row, retried by the sweep
            logger.exception("processing raw delivery %s failed", delivery_id)
            delivery.status = RawDelivery.Status.FAILED
            delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
            delivery.save(update_fields=["status", "error", "attempts"])
            return delivery.status
        delivery.status = RawDelivery.Status.PROCESSED
        delivery.processed_at = timezone.now()
        delivery.error = ""
        delivery.dedupe_key = (dedupe_key or "")[:128]
        delivery.save(update_fields=["status", "processed_at", "error", "dedupe_key", "attempts"])
        return delivery.status


def sweep_raw_deliveries(older_than_seconds: int = 30, limit: int = 1000) -> int:
    """Publish again the deliveries still pending (or failed, under MAX_ATTEMPTS) after a while;
    pending deliveries of a batch source get a drain instead.

    Returns how many were handed to their processor.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    rows = list(
        RawDelivery.objects.filter(received_at__lt=cutoff, source__in=list(PROCESSORS))
        .filter(
            status__in=[RawDelivery.Status.PENDING, RawDelivery.Status.FAILED],
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("received_at", "id")
        .values_list("pk", "source", "status")[:limit]
    )
    handed = 0
    drains: dict[str, int] = {}
    for pk, source, status in rows:
        if source in BATCH_PROCESSORS and status == RawDelivery.Status.PENDING:
            drains[source] = drains.get(source, 0) + 1
        elif _publish(source, pk):
            handed += 1
    for source, count in drains.items():
        # A drain lost with its worker may still hold the flag: this one runs regardless.
        clear_drain_request(source)
        if request_drain(source):
            handed += count
    return handed
