"""The execution socket over a real uvicorn: backlog then live, no gap, no duplicate, resumable, authorised.

Every behaviour holds in both modes: one message per line (the default) and one per batch (``batch=1``).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from datetime import timedelta

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode
from websockets.sync.client import connect
from websockets.uri import parse_uri

from ansflow.testing import session_cookie, wait_until
from apps.accounts.choices import Role
from apps.accounts.models import ApiToken
from apps.accounts.services import token_create, token_revoke
from apps.accounts.tests.factories import make_user_with_role
from apps.executions.engine.events import execution_group, join_log_frames, log_frame
from apps.executions.models import Execution, LogLine, StepExecution
from apps.executions.services import approval_decide

from .helpers import pipeline_yaml, project, start, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)

LINE, BATCH = "line", "batch"
MODES = pytest.mark.parametrize("mode", [LINE, BATCH])
LINE_KEYS = {"seq", "step", "stream", "text"}

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


def socket_url(server, execution, after=0, mode=LINE, **params):
    if mode == BATCH:
        params["batch"] = 1
    query = "&".join([f"after={after}"] + [f"{k}={v}" for k, v in params.items()])
    return f"{server.ws_url}/ws/executions/{execution.pk}/?{query}"


def lines_of(message: dict, mode: str) -> list[dict]:
    """The lines a message carries, checked against the shape its mode promises."""
    if mode == LINE:
        assert message["type"] != "logs", "a batched message on a per-line socket"
        if message["type"] != "log":
            return []
        assert set(message) == {"type", *LINE_KEYS}
        return [message]
    assert message["type"] != "log", "a per-line message on a batched socket"
    if message["type"] != "logs":
        return []
    assert set(message) == {"type", "lines"}
    assert message["lines"]
    seqs = [line["seq"] for line in message["lines"]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a batch is consecutive lines"
    assert all(set(line) == LINE_KEYS for line in message["lines"])
    return list(message["lines"])


def read_until_done(
    ws, execution_id: int, lines: dict[int, str] | None = None, limit: int | None = None, mode: str = LINE
):
    """Collect log lines until the execution's final status and every line up to its last seq arrived."""
    lines = {} if lines is None else lines
    messages = []
    final_seq = None
    while True:
        message = json.loads(ws.recv(timeout=60))
        messages.append(message)
        carried = lines_of(message, mode)
        if carried:
            for line in carried:
                assert line["seq"] not in lines, f"duplicate seq {line['seq']}"
                lines[line["seq"]] = line["text"]
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


@MODES
def test_backlog_then_live_with_no_gap_and_no_duplicate(asgi_server, celery_worker, operator_cookie, mode):
    execution = start(pipeline_yaml(f"live-{mode}", CHATTY.format(n=3000)))
    with open_socket(socket_url(asgi_server, execution, mode=mode), operator_cookie) as ws:
        snapshot = json.loads(ws.recv(timeout=30))
        assert snapshot["kind"] == "snapshot"
        assert {s["step"] for s in snapshot["steps"]} == {"left", "right", "tail"}
        lines, messages = read_until_done(ws, execution.pk, mode=mode)
    done = wait_done(execution)
    assert done.status == "success"
    assert_complete(done, lines)
    assert len(lines) == 6001
    step_updates = {(m["step"], m["status"]) for m in messages if m.get("kind") == "step"}
    assert ("tail", "success") in step_updates
    carrying = [m for m in messages if m["type"] in ("log", "logs")]
    if mode == BATCH:
        assert len(carrying) < len(lines)  # lines travel together, not one message each
    else:
        assert len(carrying) == len(lines)


@MODES
def test_reconnecting_with_after_resumes_exactly(asgi_server, celery_worker, operator_cookie, mode):
    execution = start(pipeline_yaml(f"resume-{mode}", CHATTY.format(n=2000)))
    lines: dict[int, str] = {}
    with open_socket(socket_url(asgi_server, execution, mode=mode), operator_cookie) as ws:
        read_until_done(ws, execution.pk, lines, limit=500, mode=mode)
    last = max(lines)
    with open_socket(socket_url(asgi_server, execution, after=last, mode=mode), operator_cookie) as ws:
        read_until_done(ws, execution.pk, lines, mode=mode)
    assert_complete(wait_done(execution), lines)


@MODES
def test_viewers_in_one_process_share_a_subscription_that_outlives_any_one_of_them(
    asgi_server, celery_worker, operator_cookie, tmp_path, mode
):
    steps = f"- {{id: wait, type: shell, run: 'while [ ! -e {tmp_path}/go ]; do sleep 0.01; done; seq 1 500'}}"
    execution = start(pipeline_yaml(f"shared-{mode}", steps))
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    group_channel = f"asgi__group__{execution_group(execution.pk)}"  # the pub/sub layer's name for the group

    def subscribers() -> int:
        return int(client.pubsub_numsub(group_channel)[0][1])

    url = socket_url(asgi_server, execution, mode=mode)
    with open_socket(url, operator_cookie) as staying:
        with open_socket(url, operator_cookie) as leaving:
            for ws in (staying, leaving):
                assert json.loads(ws.recv(timeout=30))["kind"] == "snapshot"
            assert subscribers() == 1
        (tmp_path / "go").touch()  # printed after one of the two left: the other still gets it live
        lines, _ = read_until_done(staying, execution.pk, mode=mode)
    assert_complete(wait_done(execution), lines)
    wait_until(lambda: subscribers() == 0, message="the last viewer's leaving unsubscribes the process")


def test_a_viewer_may_switch_modes_when_it_resumes(asgi_server, celery_worker, operator_cookie):
    execution = start(pipeline_yaml("switch", CHATTY.format(n=2000)))
    lines: dict[int, str] = {}
    for mode, limit in ((BATCH, 300), (LINE, 1500), (BATCH, None)):
        url = socket_url(asgi_server, execution, after=max(lines, default=0), mode=mode)
        with open_socket(url, operator_cookie) as ws:
            read_until_done(ws, execution.pk, lines, limit=limit, mode=mode)
    assert_complete(wait_done(execution), lines)


@MODES
@given(cuts=st.lists(st.integers(1, 400), min_size=1, max_size=4), seed=st.integers(0, 10_000))
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_disconnects_during_concurrent_publishing_lose_nothing(asgi_server, celery_worker, mode, cuts, seed):
    rng = random.Random(seed)
    cookie = session_cookie(superuser())
    execution = start(pipeline_yaml(f"cuts-{mode}-{seed}-{len(cuts)}", CHATTY.format(n=1500)))
    lines: dict[int, str] = {}
    for cut in cuts:
        after = max(lines, default=0)
        with open_socket(socket_url(asgi_server, execution, after=after, mode=mode), cookie) as ws:
            read_until_done(ws, execution.pk, lines, limit=len(lines) + cut + rng.randint(0, 50), mode=mode)
    with open_socket(socket_url(asgi_server, execution, after=max(lines, default=0), mode=mode), cookie) as ws:
        read_until_done(ws, execution.pk, lines, mode=mode)
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


@MODES
def test_a_client_that_stops_reading_gets_a_resync_and_still_every_line(
    asgi_server, celery_worker, operator_cookie, mode
):
    # 60,000 lines of 200 bytes: far more than the socket buffers hold for a client that does not read.
    execution = start(pipeline_yaml(f"flood-{mode}", "- {id: flood, type: shell, run: 'seq -f %0200g 1 60000'}"))
    client = StalledClient(socket_url(asgi_server, execution, mode=mode), operator_cookie)
    try:
        wait_done(execution)  # the client reads nothing while the step floods the socket
        lines, messages = read_until_done(client, execution.pk, mode=mode)
    finally:
        client.close()
    assert any(m["type"] == "resync" for m in messages)
    assert_complete(Execution.objects.get(pk=execution.pk), lines)
    assert len(lines) == 60000


def test_each_batch_is_published_once_as_its_encoded_batched_message(celery_worker, tmp_path):
    """What batched viewers forward untouched: the publisher's own text of ``{"type": "logs", ...}``."""
    steps = f"- {{id: wait, type: shell, run: 'while [ ! -e {tmp_path}/go ]; do sleep 0.01; done; seq 1 3000'}}"
    execution = start(pipeline_yaml("published", steps))

    async def capture() -> list[dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(execution_group(execution.pk), channel)
        (tmp_path / "go").touch()  # the step starts printing only once this channel is in the group
        messages = []
        try:
            while not messages or '"text":"3000"' not in messages[-1]["frame"]:
                message = await asyncio.wait_for(layer.receive(channel), 60)
                if message["type"] == "log.batch":
                    messages.append(message)
        finally:
            await layer.group_discard(execution_group(execution.pk), channel)
        return messages

    messages = asyncio.run(capture())
    wait_done(execution)
    stored = {
        seq: {"seq": seq, "step": step, "stream": stream, "text": text}
        for seq, step, stream, text in LogLine.objects.filter(execution=execution).values_list(
            "seq", "step__step_id", "stream", "text"
        )
    }
    published = []
    for message in messages:
        frame = json.loads(message["frame"])
        expected = [stored[seq] for seq in range(message["first_seq"], message["last_seq"] + 1)]
        assert frame == {"type": "logs", "lines": expected}
        published += frame["lines"]
    assert [line["text"] for line in published if line["stream"] == "o"] == [str(n) for n in range(1, 3001)]


def test_queued_batches_join_into_one_message_without_decoding():
    first = [{"seq": 7, "step": "a", "stream": "o", "text": "ends like a message ]}"}]
    second = [
        {"seq": 8, "step": "a", "stream": "e", "text": 'ünïcode, "quotes", \\ and \t'},
        {"seq": 9, "step": "b[x=1]", "stream": "s", "text": ""},
    ]
    assert json.loads(log_frame(first)) == {"type": "logs", "lines": first}
    joined = join_log_frames([log_frame(first), log_frame(second)])
    assert json.loads(joined) == {"type": "logs", "lines": first + second}


def close_code(url: str, headers: dict[str, str] | None = None) -> int:
    """The close code the server ends the socket with (it sends nothing else first)."""
    with (
        connect(url, additional_headers=headers or {}, close_timeout=0.2) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=30)
    return closed.value.rcvd.code


@MODES
def test_socket_authorisation(asgi_server, celery_worker, mode):
    execution = start(
        pipeline_yaml("private", "- {id: tell, type: shell, run: echo secret-plans}", project_slug="private"),
        project_slug="private",
    )
    wait_done(execution)
    other = project("elsewhere")
    outsider = make_user_with_role(other, Role.OWNER)
    viewer = make_user_with_role(execution.project, Role.VIEWER)
    url = socket_url(asgi_server, execution, mode=mode)
    assert close_code(url) == 4401
    # Anonymous sockets learn nothing about which ids exist.
    assert close_code(f"{asgi_server.ws_url}/ws/executions/999999/?after=0&batch=1") == 4401
    assert close_code(url, {"Cookie": f"sessionid={session_cookie(outsider)}"}) == 4404
    assert (
        close_code(
            f"{asgi_server.ws_url}/ws/executions/999999/?after=0", {"Cookie": f"sessionid={session_cookie(viewer)}"}
        )
        == 4404
    )
    viewer_cookie = {"Cookie": f"sessionid={session_cookie(viewer)}"}
    assert close_code(socket_url(asgi_server, execution, after="x", mode=mode), viewer_cookie) == 4400
    for bad in ("2", "yes"):
        assert close_code(socket_url(asgi_server, execution, batch=bad), viewer_cookie) == 4400

    _token, key = token_create(actor=viewer, user=viewer, name="ci")
    with open_socket(f"{url}&token={key}") as ws:
        lines, _ = read_until_done(ws, execution.pk, mode=mode)
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


def test_steps_queued_together_reach_the_socket_each_as_its_own_status(asgi_server, celery_worker, operator_cookie):
    # The gate's approval queues a, b and c in one scheduler pass: their statuses leave the worker
    # as one channel-layer message, and each still reaches the viewer as its own socket message.
    steps = """
    - {id: gate, type: approval, with: {approvers: {roles: [maintainer]}, min_approvals: 1}}
    - {id: a, type: shell, needs: [gate], run: 'true'}
    - {id: b, type: shell, needs: [gate], run: 'true'}
    - {id: c, type: shell, needs: [gate], run: 'true'}
    """
    execution = start(pipeline_yaml("together", steps))
    gate = wait_until(StepExecution.objects.filter(execution=execution, step_id="gate", status="waiting").first)
    with open_socket(socket_url(asgi_server, execution), operator_cookie) as ws:
        assert json.loads(ws.recv(timeout=30))["kind"] == "snapshot"
        approval_decide(actor=superuser(), step=gate, decision="approve")
        _, messages = read_until_done(ws, execution.pk)
    states = [(m["step"], m["status"]) for m in messages if m["type"] == "status" and m["kind"] == "step"]
    for step in "abc":
        assert [status for name, status in states if name == step] == ["queued", "running", "success"], states


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
