"""The execution socket over a real uvicorn: backlog then live, no gap, no duplicate, resumable, authorised."""

from __future__ import annotations

import json
import random
import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode
from websockets.sync.client import connect
from websockets.uri import parse_uri

from ansflow.testing import session_cookie
from apps.accounts.choices import Role
from apps.accounts.models import ApiToken
from apps.accounts.services import token_create, token_revoke
from apps.accounts.tests.factories import make_user_with_role
from apps.executions.models import Execution, LogLine

from .helpers import pipeline_yaml, project, start, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)

CHATTY = """
- id: left
  type: shell
  run: for i in $(seq 1 {n}); do echo "left $i"; done
- id: right
  type: shell
  run: for i in $(seq 1 {n}); do echo "right $i" >&2; done
- {{id: tail, type: shell, needs: [left, right], run: echo done}}
"""


def open_socket(url: str, cookie: str | None = None, **kwargs):
    """A client that closes abruptly (a short close timeout), as a dropped browser tab would."""
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return connect(url, additional_headers=headers, close_timeout=0.2, **kwargs)


def socket_url(server, execution, after=0, **params):
    query = "&".join([f"after={after}"] + [f"{k}={v}" for k, v in params.items()])
    return f"{server.ws_url}/ws/executions/{execution.pk}/?{query}"


def read_until_done(ws, execution_id: int, lines: dict[int, str] | None = None, limit: int | None = None):
    """Collect log lines until the execution's final status and every line up to its last seq arrived."""
    lines = {} if lines is None else lines
    messages = []
    final_seq = None
    while True:
        message = json.loads(ws.recv(timeout=60))
        messages.append(message)
        if message["type"] == "log":
            assert message["seq"] not in lines, f"duplicate seq {message['seq']}"
            lines[message["seq"]] = message["text"]
            if limit is not None and len(lines) >= limit:
                return lines, messages
        elif message["type"] == "status" and message["kind"] == "execution" and message["status"] in (
            "success", "failed", "canceled",
        ):  # fmt: skip
            final_seq = Execution.objects.get(pk=execution_id).log_seq
        elif message["type"] == "status" and message["kind"] == "snapshot" and message["status"] in (
            "success", "failed", "canceled",
        ):  # fmt: skip
            final_seq = message["last_seq"]
        if final_seq is not None and (not final_seq or max(lines, default=0) >= final_seq):
            return lines, messages


def assert_complete(execution, lines: dict[int, str]):
    expected = dict(LogLine.objects.filter(execution=execution).values_list("seq", "text"))
    assert sorted(lines) == list(range(1, len(expected) + 1))
    assert lines == expected


@pytest.fixture
def operator_cookie():
    return session_cookie(superuser())


def test_backlog_then_live_with_no_gap_and_no_duplicate(asgi_server, celery_worker, operator_cookie):
    execution = start(pipeline_yaml("live", CHATTY.format(n=3000)))
    with open_socket(socket_url(asgi_server, execution), operator_cookie) as ws:
        snapshot = json.loads(ws.recv(timeout=30))
        assert snapshot["kind"] == "snapshot"
        assert {s["step"] for s in snapshot["steps"]} == {"left", "right", "tail"}
        lines, messages = read_until_done(ws, execution.pk)
    done = wait_done(execution)
    assert done.status == "success"
    assert_complete(done, lines)
    assert len(lines) == 6001
    step_updates = {(m["step"], m["status"]) for m in messages if m.get("kind") == "step"}
    assert ("tail", "success") in step_updates


def test_reconnecting_with_after_resumes_exactly(asgi_server, celery_worker, operator_cookie):
    execution = start(pipeline_yaml("resume", CHATTY.format(n=2000)))
    lines: dict[int, str] = {}
    with open_socket(socket_url(asgi_server, execution), operator_cookie) as ws:
        read_until_done(ws, execution.pk, lines, limit=500)
    last = max(lines)
    with open_socket(socket_url(asgi_server, execution, after=last), operator_cookie) as ws:
        read_until_done(ws, execution.pk, lines)
    assert_complete(wait_done(execution), lines)


@given(cuts=st.lists(st.integers(1, 400), min_size=1, max_size=4), seed=st.integers(0, 10_000))
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_disconnects_during_concurrent_publishing_lose_nothing(asgi_server, celery_worker, cuts, seed):
    rng = random.Random(seed)
    cookie = session_cookie(superuser())
    execution = start(pipeline_yaml(f"cuts-{seed}-{len(cuts)}", CHATTY.format(n=1500)))
    lines: dict[int, str] = {}
    for cut in cuts:
        after = max(lines, default=0)
        with open_socket(socket_url(asgi_server, execution, after=after), cookie) as ws:
            read_until_done(ws, execution.pk, lines, limit=len(lines) + cut + rng.randint(0, 50))
    with open_socket(socket_url(asgi_server, execution, after=max(lines, default=0)), cookie) as ws:
        read_until_done(ws, execution.pk, lines)
    assert_complete(wait_done(execution), lines)


class StalledClient:
    """A WebSocket client on a raw socket with a tiny receive buffer that reads nothing until asked."""

    def __init__(self, url: str, cookie: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", parse_uri(url).port))
        request = self.protocol.connect()
        request.headers["Cookie"] = f"sessionid={cookie}"
        self.protocol.send_request(request)
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        self.pending: list = []
        while not self.pending:
            self._feed()
        assert self.pending.pop(0).status_code == 101

    def _feed(self) -> None:
        data = self.sock.recv(65536)
        assert data, "server closed the connection"
        self.protocol.receive_data(data)
        self.pending.extend(self.protocol.events_received())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))  # pongs

    def recv(self, timeout: float = 60) -> str:
        self.sock.settimeout(timeout)
        while True:
            while self.pending:
                frame = self.pending.pop(0)
                if frame.opcode == Opcode.TEXT:
                    return frame.data.decode()
            self._feed()

    def close(self) -> None:
        self.sock.close()


def test_a_client_that_stops_reading_gets_a_resync_and_still_every_line(asgi_server, celery_worker, operator_cookie):
    # 60,000 lines of 200 bytes: far more than the socket buffers hold for a client that does not read.
    execution = start(pipeline_yaml("flood", "- {id: flood, type: shell, run: 'seq -f %0200g 1 60000'}"))
    client = StalledClient(socket_url(asgi_server, execution), operator_cookie)
    try:
        wait_done(execution)  # the client reads nothing while the step floods the socket
        lines, messages = read_until_done(client, execution.pk)
    finally:
        client.close()
    assert any(m["type"] == "resync" for m in messages)
    assert_complete(Execution.objects.get(pk=execution.pk), lines)
    assert len(lines) == 60000


def close_code(url: str, headers: dict[str, str] | None = None) -> int:
    """The close code the server ends the socket with (it sends nothing else first)."""
    with (
        connect(url, additional_headers=headers or {}, close_timeout=0.2) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=30)
    return closed.value.rcvd.code


def test_socket_authorisation(asgi_server, celery_worker):
    execution = start(
        pipeline_yaml("private", "- {id: a, type: shell, run: echo secret-plans}", project_slug="private"),
        project_slug="private",
    )
    wait_done(execution)
    other = project("elsewhere")
    outsider = make_user_with_role(other, Role.OWNER)
    viewer = make_user_with_role(execution.project, Role.VIEWER)
    url = socket_url(asgi_server, execution)
    assert close_code(url) == 4401
    # Anonymous sockets learn nothing about which ids exist.
    assert close_code(f"{asgi_server.ws_url}/ws/executions/999999/?after=0") == 4401
    assert close_code(url, {"Cookie": f"sessionid={session_cookie(outsider)}"}) == 4404
    assert (
        close_code(
            f"{asgi_server.ws_url}/ws/executions/999999/?after=0", {"Cookie": f"sessionid={session_cookie(viewer)}"}
        )
        == 4404
    )
    assert (
        close_code(socket_url(asgi_server, execution, after="x"), {"Cookie": f"sessionid={session_cookie(viewer)}"})
        == 4400
    )

    _token, key = token_create(actor=viewer, user=viewer, name="ci")
    with open_socket(f"{url}&token={key}") as ws:
        lines, _ = read_until_done(ws, execution.pk)
    assert list(lines.values()) == ["secret-plans"]
    with connect(url, additional_headers={"Authorization": f"Token {key}"}, close_timeout=0.2) as ws:
        assert json.loads(ws.recv(timeout=30))["kind"] == "snapshot"

    expired, expired_key = token_create(
        actor=viewer, user=viewer, name="old", expires_at=timezone.now() + timedelta(minutes=1)
    )
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # time passes
    token_revoke(actor=viewer, token=_token)
    for dead_key in (expired_key, key):  # a dead token is refused at the handshake, whatever the cookie says
        with pytest.raises(InvalidStatus) as refused:
            open_socket(f"{url}&token={dead_key}", session_cookie(viewer))
        assert refused.value.response.status_code == 403


def test_project_socket_streams_status_changes(asgi_server, celery_worker, operator_cookie):
    proj = project("feed")
    with open_socket(f"{asgi_server.ws_url}/ws/projects/{proj.slug}/", operator_cookie) as ws:
        assert json.loads(ws.recv(timeout=30)) == {"type": "hello", "project": "feed"}
        execution = start(
            pipeline_yaml("fed", "- {id: a, type: shell, run: 'true'}", project_slug="feed"), project_slug="feed"
        )
        seen = []
        while "success" not in seen:
            message = json.loads(ws.recv(timeout=30))
            assert message["execution"] == execution.pk
            seen.append(message["status"])
    assert seen[0] == "queued"
    assert close_code(f"{asgi_server.ws_url}/ws/projects/feed/") == 4401
