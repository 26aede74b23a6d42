"""The live inbox: inbox changes reach every open inbox page without a reload.

Transport: WebSockets through Django Channels (`crm.inbox.consumers`, routed in `crm.asgi`),
with the channel layer of `CHANNEL_LAYERS` between the processes that change things (web
workers, Celery workers) and the ASGI processes that hold the sockets: channels-redis when
`REDIS_URL` is set, an in-memory layer when it is not (the demo, one process).

Every change is written as an `InboxEvent` row in the same transaction as the change
(`emit`, called at the few places the inbox changes: receiving, sending, assigning, resolving)
and published after commit. The publish is best effort: a page that lost its socket (Redis
restarted, the network dropped) reconnects and asks `events_after(user, last_id)` over HTTP for
what it missed, so a lost publish loses no event. Pages fall back to polling only while the
socket cannot connect.

Who sees what: `visible_ids` is the one visibility check, built on the queryset the inbox list
uses (`crm.filtersets.visible_conversations`), so the socket, the catch-up endpoint and the list
follow the same rule, whatever it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from .models import Conversation, InboxEvent, Message

logger = logging.getLogger(__name__)

GROUP = "crm.inbox"  # every ASGI process's hub is a member (crm.inbox.consumers)
MESSAGE_TYPE = "inbox.events"
CATCH_UP_LIMIT = 500  # events per catch-up answer; the page asks again from the last one


def emit(kind: str, *items: Message | Conversation, by=None) -> None:
    """Record inbox changes as events and publish them after commit. Caller's transaction.

    `kind` is an InboxEvent.Kind; `items` are the messages (kind "message") or the conversations
    (kinds "assigned" and "status", their current assignee and status) that changed. A message
    without a conversation (a notice to a customer) shows in no inbox and is skipped. Raises
    nothing of its own: a failed publish is logged (the rows are the record pages catch up from).
    """
    rows = [row for row in (_row(kind, item, by) for item in items) if row is not None]
    if not rows:
        return
    InboxEvent.objects.bulk_create(rows)
    announce(rows)


def announce(rows: list[InboxEvent]) -> None:
    """Publish events already written after commit: emit's, or those a statement wrote in the
    same trip as the change (crm.inbox.routing's assignment). Caller's transaction."""
    payloads = [payload(row) for row in rows]
    transaction.on_commit(lambda: publish(payloads))


def _row(kind: str, item: Message | Conversation, by) -> InboxEvent | None:
    by_id = getattr(by, "pk", by)
    if isinstance(item, Message):
        if item.conversation_id is None:
            return None
        return InboxEvent(
            kind=kind,
            conversation_id=item.conversation_id,
            message_id=item.pk,
            direction=item.direction,
            by_id=by_id if by_id is not None else item.sender_id,
        )
    return InboxEvent(
        kind=kind,
        conversation_id=item.pk,
        status=item.status,
        assignee_id=item.assignee_id,
        by_id=by_id,
    )


def payload(event: InboxEvent) -> dict[str, Any]:
    """What a page receives for one event (ids only: the page fetches what it shows through the
    pages' own permission checks)."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "conversation": event.conversation_id,
        "message": event.message_id,
        "direction": event.direction,
        "status": event.status,
        "assignee": event.assignee_id,
        "by": event.by_id,
        "at": event.at.isoformat(),
    }


def visible_ids(user, conversation_ids: Iterable[int]) -> set[int]:
    """The ids among `conversation_ids` of conversations `user` may see in the inbox: the one
    visibility check of the live inbox (the inbox list's own queryset)."""
    from .filtersets import visible_conversations

    ids = set(conversation_ids)
    if not ids or not (user.is_authenticated and user.is_active and user.is_staff):
        return set()
    return set(
        visible_conversations(user).filter(pk__in=ids).order_by().values_list("pk", flat=True)
    )


class _Slot:
    """Where the conversation ids go in a VisibilityCheck's parameters (kept through copies)."""

    def __copy__(self) -> _Slot:
        return self

    def __deepcopy__(self, memo) -> _Slot:
        return self


class VisibilityCheck:
    """visible_ids for a fixed set of users, compiled once into one statement: each user's own
    visibility queryset (visible_ids'), joined by UNION ALL, with the conversation ids as its
    array parameter. The socket hub keeps one for its signed-in users and calls it with each
    batch of events (crm.inbox.consumers): building twenty querysets a batch cost Daphne more
    than running them. The users' permissions and see-all answers are those of their objects.
    The ids go in as one array (PostgreSQL) or one JSON array (SQLite, the demo's database)."""

    def __init__(self, users: Iterable[Any]) -> None:
        from django.db import connection
        from django.db.models import IntegerField, Value
        from django.db.models.expressions import RawSQL

        from .filtersets import visible_conversations

        self.as_json = connection.vendor != "postgresql"
        given_sql = (
            "SELECT value FROM json_each(%s)" if self.as_json else "SELECT unnest(%s::bigint[])"
        )
        self.user_ids = [user.pk for user in users]
        self.sql: str | None = None
        self.params: list[Any] = []
        self.slots: list[int] = []
        slot = _Slot()
        parts = []
        for user in users:
            if not (user.is_authenticated and user.is_active and user.is_staff):
                continue
            given = RawSQL(given_sql, (slot,))  # noqa: S611  one of the two constants above
            rows = visible_conversations(user).filter(pk__in=given).order_by()
            if rows.query.is_empty():
                continue
            asker = Value(user.pk, output_field=IntegerField())
            parts.append(rows.annotate(asker=asker).values_list("asker", "pk"))
        if parts:
            union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
            sql, params = union.query.sql_with_params()
            self.sql, self.params = sql, list(params)
            self.slots = [n for n, param in enumerate(params) if param is slot]

    def __call__(self, conversation_ids: Iterable[int]) -> dict[int, set[int]]:
        """{user id: the ids among `conversation_ids` they may see}, in one query."""
        from django.db import connection

        answers: dict[int, set[int]] = {pk: set() for pk in self.user_ids}
        ids = sorted(set(conversation_ids))
        if self.sql is None or not ids:
            return answers
        params = list(self.params)
        for n in self.slots:
            params[n] = json.dumps(ids) if self.as_json else ids
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            for asker, pk in cursor.fetchall():
                answers[asker].add(pk)
        return answers


def events_after(user, after: int, limit: int | None = None) -> list[dict[str, Any]]:
    """The events after id `after` that `user` may see, oldest first, at most `limit`
    (CATCH_UP_LIMIT)."""
    from .filtersets import visible_conversations

    if not (user.is_authenticated and user.is_active and user.is_staff):
        return []
    rows = InboxEvent.objects.filter(
        pk__gt=after, conversation__in=visible_conversations(user).order_by().values("pk")
    ).order_by("pk")[: limit or CATCH_UP_LIMIT]
    return [payload(row) for row in rows]


def _cutoff(now=None):
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    return (now or timezone.now()) - timedelta(hours=settings.INBOX_EVENT_RETENTION_HOURS)


def prune_events(*, now=None, batch: int = 10_000) -> int:
    """Delete the events older than INBOX_EVENT_RETENTION_HOURS (the beat task, hourly), oldest
    first in batches of `batch` (by the primary key: the oldest events are its first entries, so
    no index on `at` is needed), all but the newest of them: it stays as the mark of how far the
    pruning went (`missed_events`). Returns how many were deleted. Safe to run twice."""
    cutoff = _cutoff(now)
    deleted = 0
    while True:
        ids = list(
            InboxEvent.objects.filter(at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[: batch + 1]
        )
        if len(ids) <= 1:
            return deleted
        deleted += InboxEvent.objects.filter(pk__in=ids[:-1]).delete()[0]


def missed_events(after: int, *, now=None) -> bool:
    """Whether events after id `after` were pruned (prune_events): the oldest event kept is older
    than the retention (the pruning's mark) and more than one id after `after`. A page that
    hears so reloads (it was away longer than the events are kept). An id a rolled-back
    transaction took just before the mark also says so: one needless reload."""
    oldest = InboxEvent.objects.order_by("pk").values_list("pk", "at").first()
    return oldest is not None and oldest[1] < _cutoff(now) and after < oldest[0] - 1


def last_event_id() -> int:
    """The newest event's id (a page starts from it: it shows everything up to now)."""
    return InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def publish(payloads: list[dict[str, Any]]) -> None:
    """Send events to every ASGI process's hub through the channel layer. Best effort."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": MESSAGE_TYPE, "events": payloads}
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # One process (the demo): publish on the server's own event loop, where the
            # in-memory queues live (async_to_sync from a view's thread runs there).
            from asgiref.sync import async_to_sync

            async_to_sync(layer.group_send)(GROUP, message)
        else:
            _Publisher.get().send(layer, message)
    except Exception:
        logger.warning("live inbox: publishing %s events failed", len(payloads), exc_info=True)


class _Publisher:
    """One event loop thread per process that publishes without blocking the caller (a webhook,
    a Celery worker), over one warm channel-layer connection."""

    _instance: _Publisher | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="live-inbox", daemon=True)
        thread.start()

    @classmethod
    def get(cls) -> _Publisher:
        with cls._lock:
            # A forked worker (Celery prefork, gunicorn) starts its own thread.
            if cls._instance is None or cls._instance.pid != os.getpid():
                cls._instance = cls()
            return cls._instance

    def send(self, layer, message: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(GROUP, message), self.loop)
        future.add_done_callback(_log_failure)


def _log_failure(future) -> None:
    if future.exception() is not None:
        logger.warning("live inbox: publish failed: %s", future.exception())


def unread_counts(user) -> dict[str, int]:
    """Per inbox tab (mine, unassigned, all): the active conversations `user` may see that have
    an inbound message after the user last had them open (or were never opened by them)."""
    from django.db.models import F, OuterRef, Q, Subquery

    from .filtersets import visible_conversations
    from .models import ACTIVE_STATUSES, ConversationRead

    read_at = ConversationRead.objects.filter(user=user, conversation=OuterRef("pk")).values(
        "read_at"
    )[:1]
    unread = (
        visible_conversations(user)
        .filter(status__in=ACTIVE_STATUSES, last_inbound_at__isnull=False)
        .annotate(read_at=Subquery(read_at))
        .filter(Q(read_at__isnull=True) | Q(last_inbound_at__gt=F("read_at")))
        .order_by()
    )
    return {
        "mine": unread.filter(assignee=user).count(),
        "unassigned": unread.filter(assignee__isnull=True).count(),
        "all": unread.count(),
    }


def mark_conversation_read(conversation: Conversation, user, *, at=None) -> None:
    """Record that `user` has read `conversation` up to `at` (now): its earlier inbound
    messages stop counting as unread for them. Atomic (one upsert); never moves `read_at` back."""
    from django.utils import timezone

    from .models import ConversationRead

    at = at or timezone.now()
    with transaction.atomic():
        read, created = ConversationRead.objects.select_for_update().get_or_create(
            user=user, conversation=conversation, defaults={"read_at": at}
        )
        if not created and read.read_at < at:
            ConversationRead.objects.filter(pk=read.pk).update(read_at=at)
