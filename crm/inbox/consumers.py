"""The live inbox's WebSocket (`/ws/inbox/`, routed in crm.asgi): inbox events to open pages.

Only signed-in active staff with the inbox's view permission get a socket (others are closed
with 4403 before the handshake completes). A page receives `{"events": [...]}` frames, each
event as `crm.live.payload` makes it, only for conversations it may see (`crm.live.visible_ids`).

Fan-out: each ASGI process has one hub, a single member of the channel layer group that the
publishers send to, which hands each batch to this process's sockets. A batch therefore crosses
Redis once per process, not once per open page, and the visibility check is one query per batch
for all the signed-in users (crm.live.VisibilityCheck, compiled once), not per socket, with a short cache per
conversation (dropped when the conversation is assigned or changes status, the changes that can
move it between teams).

When the channel layer fails (Redis restarted), the hub closes its sockets with 4000: the pages
reconnect, then fetch the events after their last id over HTTP (crm.inbox.live).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from .. import live

logger = logging.getLogger(__name__)

VISIBILITY_TTL = 30.0  # seconds a visibility answer is reused for a conversation
# Least seconds between two dispatches of the hub: what arrives meanwhile goes out together, so
# a socket gets at most one frame per interval however often the publishers commit. Each frame
# costs Daphne and the page about the same whatever it holds: 500 events/s in publishes of 10
# cost Daphne 1.67 ms and 200 pages 1.68 ms of CPU per event, in publishes of 50 0.35 and 0.79.
DISPATCH_INTERVAL = 0.1
# Seconds the hub's compiled visibility check is used before it is built again from the users
# as stored: a manager who takes "see all" (or a permission, or the account) from an agent
# stops that agent's open page receiving other teams' events within this time plus VISIBILITY_TTL.
USER_REFRESH_SECONDS = 60.0
CLOSE_LAYER_LOST = 4000
CLOSE_FORBIDDEN = 4403


def may_connect(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("crm.view_conversation")
    )


class Hub:
    """This process's one subscription to the inbox events, shared by its sockets."""

    def __init__(self) -> None:
        self.sockets: dict[int, set[InboxConsumer]] = {}  # by user id
        self.users: dict[int, Any] = {}
        self.seen: dict[tuple[int, int], tuple[bool, float]] = {}
        self.check: live.VisibilityCheck | None = None
        self.check_built = 0.0
        self.task: asyncio.Task | None = None
        self.ready: asyncio.Event | None = None

    async def join(self, socket: InboxConsumer) -> None:
        if self.task is None or self.task.done():
            self.ready = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._run())
        assert self.ready is not None
        await asyncio.wait_for(self.ready.wait(), timeout=10)
        if self.task is None:
            raise ConnectionError("the channel layer is not reachable")
        user = socket.scope["user"]
        self.users[user.pk] = user
        self.sockets.setdefault(user.pk, set()).add(socket)

    def leave(self, socket: InboxConsumer) -> None:
        user = socket.scope["user"]
        sockets = self.sockets.get(user.pk, set())
        sockets.discard(socket)
        if not sockets:
            self.sockets.pop(user.pk, None)
            self.users.pop(user.pk, None)

    async def _run(self) -> None:
        layer = get_channel_layer()
        assert self.ready is not None
        try:
            channel = await layer.new_channel()
            await layer.group_add(live.GROUP, channel)
            self.ready.set()
            # Reading never waits for dispatching: batches that arrive while one is dispatched
            # are merged into the next dispatch, and the channel (bounded in Redis: a full one
            # drops messages) stays empty however slow the pages' database checks are.
            pending: list[dict[str, Any]] = []
            wake = asyncio.Event()
            dispatcher = asyncio.get_running_loop().create_task(self._dispatcher(pending, wake))
            try:
                while True:
                    message = await layer.receive(channel)
                    if message.get("type") == live.MESSAGE_TYPE:
                        pending.extend(message["events"])
                        wake.set()
                    if dispatcher.done():
                        dispatcher.result()  # raises what stopped it
            finally:
                dispatcher.cancel()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("live inbox: channel layer lost; closing sockets", exc_info=True)
        finally:
            self.ready.set()
            # The pages reconnect (and catch up over HTTP); the next socket starts a new hub task.
            self.task = None
            for sockets in list(self.sockets.values()):
                for socket in list(sockets):
                    await socket.close(code=CLOSE_LAYER_LOST)

    async def _dispatcher(self, pending: list[dict[str, Any]], wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            began = time.monotonic()
            events = pending[:]
            del pending[:]
            if events:
                await self.dispatch(events)
            # The first batch after a quiet spell goes out at once; the next waits out the rest
            # of the interval, with everything that arrived meanwhile.
            await asyncio.sleep(max(0.0, began + DISPATCH_INTERVAL - time.monotonic()))

    async def dispatch(self, events: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        for event in events:
            if event["kind"] != "message":  # may have moved between teams
                conversation = event["conversation"]
                for key in [k for k in self.seen if k[1] == conversation]:
                    del self.seen[key]
        conversations = {event["conversation"] for event in events}
        frames: dict[tuple[int, ...], str] = {}  # encoded once per distinct selection
        asks = {}
        for user_id in list(self.sockets):
            unknown = {
                c for c in conversations if self.seen.get((user_id, c), (False, 0.0))[1] < now
            }
            if unknown:
                asks[user_id] = (self.users[user_id], unknown)
        if asks:
            users = list(self.users.values())
            answers = await database_sync_to_async(self._visible_for)(users, asks)
            for user_id, (_user, unknown) in asks.items():
                for c in unknown:
                    self.seen[(user_id, c)] = (c in answers[user_id], now + VISIBILITY_TTL)
        for user_id, sockets in list(self.sockets.items()):
            if any((user_id, c) not in self.seen for c in conversations):
                continue  # joined during the check: from the next batch on
            picked = tuple(
                n for n, e in enumerate(events) if self.seen[(user_id, e["conversation"])][0]
            )
            if not picked:
                continue
            if picked not in frames:
                frames[picked] = json.dumps({"events": [events[n] for n in picked]})
            for socket in list(sockets):
                await socket.send(text_data=frames[picked])
        if len(self.seen) > 100_000:
            self.seen = {k: v for k, v in self.seen.items() if v[1] >= now}

    def _visible_for(
        self, users: list[Any], asks: dict[int, tuple[Any, set[int]]]
    ) -> dict[int, set[int]]:
        """crm.live.visible_ids for the users asking, in one query (the database thread): the
        check compiled for this process's signed-in `users`, again when they change or every
        USER_REFRESH_SECONDS, from the users as stored (their objects live as long as the
        socket, and keep the permissions and see-all answer they had when it opened)."""
        from django.contrib.auth import get_user_model

        ids = [user.pk for user in users]
        now = time.monotonic()
        stale = now - self.check_built >= USER_REFRESH_SECONDS
        if self.check is None or self.check.user_ids != ids or stale:
            stored = get_user_model().objects.in_bulk(ids)
            # A deleted user is left out: the check answers nothing for them.
            self.check = live.VisibilityCheck([stored[pk] for pk in ids if pk in stored])
            self.check.user_ids = ids
            self.check_built = now
        return self.check(set().union(*(wanted for _user, wanted in asks.values())))


HUB = Hub()


class InboxConsumer(AsyncJsonWebsocketConsumer):
    # No channel of its own: the process's hub is the one subscription (an alias that names no
    # layer makes channels skip the per-socket channel and its receive loop).
    channel_layer_alias = "crm.inbox.no-layer-per-socket"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await database_sync_to_async(may_connect)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        try:
            await HUB.join(self)
        except Exception:
            logger.warning("live inbox: no channel layer; closing the socket", exc_info=True)
            await self.close(code=CLOSE_LAYER_LOST)

    async def disconnect(self, code: int) -> None:
        HUB.leave(self)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content == "ping" or content == {"type": "ping"}:
            await self.send_json({"type": "pong"})
