"""The live inbox's socket through the real ASGI server (Daphne's runserver in a child process,
tests.live_asgi) and the real Redis channel layer: who may connect, what reaches them, and a
Redis restart that loses no event (the page catches up by its last event id)."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from crm import live
from crm.inbox import assign_conversation
from crm.models import InboxEvent
from tests.conftest import make_staff
from tests.live_asgi import AsgiServer, asgi_server, free_port, session_cookie  # noqa: F401

from .factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def open_socket(server, user=None, origin=None):
    headers = {"Cookie": session_cookie(user)} if user is not None else {}
    return connect(
        server.ws_url,
        origin=origin or server.url,
        additional_headers=headers,
        open_timeout=20,
    )


def refused_status(server, user=None, origin=None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        open_socket(server, user, origin)
    return refused.value.response.status_code


def next_events(socket, timeout=10.0) -> list[dict]:
    return json.loads(socket.recv(timeout=timeout))["events"]


def test_socket_refuses_anonymous_staff_without_the_inbox_and_other_sites(asgi_server):  # noqa: F811
    agent = make_staff("xiaowang", "agent")
    marketing = make_staff("mkt", "marketing")
    inactive = make_staff("gone", "agent")
    cookie_of_inactive = session_cookie(inactive)
    inactive.is_active = False
    inactive.save()
    assert refused_status(asgi_server) == 403
    assert refused_status(asgi_server, marketing) == 403
    assert refused_status(asgi_server, agent, origin="http://evil.example") == 403
    with pytest.raises(InvalidStatus) as refused:
        connect(
            asgi_server.ws_url,
            origin=asgi_server.url,
            additional_headers={"Cookie": cookie_of_inactive},
            open_timeout=20,
        )
    assert refused.value.response.status_code == 403
    with open_socket(asgi_server, agent) as socket:  # the same server accepts an agent
        socket.send(json.dumps("ping"))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong"}


def test_agent_receives_the_events_of_conversations_they_may_see(asgi_server):  # noqa: F811
    agent = make_staff("xiaowang", "agent")
    manager = make_staff("laoli", "manager")
    outside = ConversationFactory(channel="pos")  # not an inbox conversation
    conversation = ConversationFactory()
    with open_socket(asgi_server, agent) as mine, open_socket(asgi_server, manager) as theirs:
        live.emit("status", outside)
        assign_conversation(conversation, agent, by=manager)
        event = InboxEvent.objects.get(kind="assigned")
        expected = {
            "id": event.pk,
            "kind": "assigned",
            "conversation": conversation.pk,
            "message": None,
            "direction": "",
            "status": "open",
            "assignee": agent.pk,
            "by": manager.pk,
            "at": event.at.isoformat(),
        }
        assert next_events(mine) == [expected]
        assert next_events(theirs) == [expected]


def start_redis(port: int, workdir: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import socket as sockets

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with sockets.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.mark.faults
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_redis_restart_drops_no_event(transactional_db, settings, client):
    """Redis goes away between two events and comes back: the socket closes, the page
    reconnects and asks for the events after its last id, and gets exactly the ones it missed."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="live-redis-")
    redis = start_redis(port, workdir)
    url = f"redis://127.0.0.1:{port}/0"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": "crm-asgi-drop"},
        }
    }
    server = AsgiServer(env={"REDIS_URL": url, "PYTEST_XDIST_WORKER": "-drop"})
    agent = make_staff("xiaowang", "agent")
    manager = make_staff("laoli", "agent")
    conversation = ConversationFactory()
    try:
        socket = open_socket(server, agent)
        assign_conversation(conversation, agent, by=manager)
        (first,) = next_events(socket)
        assert first["kind"] == "assigned"

        stop(redis)  # Redis restarts: the server loses its channel layer and closes the socket
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
        # Changes while Redis is down: stored, their publish fails (logged), nobody is told.
        assign_conversation(conversation, None, by=manager)
        assign_conversation(conversation, agent, by=manager)
        missed = list(InboxEvent.objects.filter(pk__gt=first["id"]).values_list("pk", flat=True))
        assert len(missed) == 2

        redis = start_redis(port, workdir)
        deadline = time.monotonic() + 30
        while True:  # the page's reconnect loop
            try:
                socket = open_socket(server, agent)
                break
            except (InvalidStatus, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        client.force_login(agent)
        caught_up = client.get(f"/inbox/live/events/?after={first['id']}").json()
        assert [(e["id"], e["assignee"]) for e in caught_up["events"]] == [
            (missed[0], None),
            (missed[1], agent.pk),
        ]
        # And the new socket is live again.
        assign_conversation(conversation, manager, by=agent)
        (after,) = next_events(socket, timeout=20)
        assert (after["id"], after["assignee"]) == (missed[1] + 1, manager.pk)
        socket.close()
    finally:
        server.stop()
        stop(redis)
        shutil.rmtree(workdir, ignore_errors=True)
