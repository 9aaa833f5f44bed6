"""The verdict on a lost subscriber connection: output-buffer limit or not (pure logic)."""

from __future__ import annotations

import socket

from socketio_redis_async.buffer_limit import (
    BACKLOG_EVIDENCE,
    BacklogProbe,
    ServerState,
    output_buffer_verdict,
)

OLD = ServerState(run_id="a", disconnections=None)  # Redis 7.0: no counter


def test_counter_decides_when_redis_has_it():
    before = ServerState.from_info({"run_id": "a", "client_output_buffer_limit_disconnections": 3})
    rose = ServerState.from_info({"run_id": "a", "client_output_buffer_limit_disconnections": 4})
    assert output_buffer_verdict(before, rose, backlog=0) == (
        "INFO stats client_output_buffer_limit_disconnections rose by 1"
    )
    # The counter says no: a large backlog alone does not overrule it.
    assert output_buffer_verdict(before, before, backlog=10 * BACKLOG_EVIDENCE) is None


def test_backlog_decides_on_older_redis():
    assert output_buffer_verdict(OLD, OLD, backlog=BACKLOG_EVIDENCE) is not None
    assert output_buffer_verdict(OLD, OLD, backlog=BACKLOG_EVIDENCE - 1) is None
    assert output_buffer_verdict(OLD, OLD, backlog=None) is None


def test_a_restart_or_no_reference_is_never_the_limit():
    restarted = ServerState(run_id="b", disconnections=None)
    assert output_buffer_verdict(OLD, restarted, backlog=10 * BACKLOG_EVIDENCE) is None
    assert output_buffer_verdict(None, OLD, backlog=10 * BACKLOG_EVIDENCE) is None


class _Writer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self._writer = _Writer(sock)


def test_probe_reads_the_kernel_queue_of_a_real_socket():
    left, right = socket.socketpair()
    with left, right:
        probe = BacklogProbe()
        probe.follow(_Connection(left))
        assert probe.sample() == 0 and probe.recent_backlog() == 0
        right.sendall(b"x" * 100_000)
        assert probe.sample() == 100_000
        left.recv(90_000)
        probe.count(64 * 1024)  # samples again: the window keeps the largest
        assert probe.recent_backlog() == 100_000
    assert BacklogProbe().recent_backlog() is None
