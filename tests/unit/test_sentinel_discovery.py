"""Which master the Sentinels' answers point to: the pure decisions behind discovery.

A Sentinel answers ``SENTINEL MASTER <name>`` with the master's state (address, flags,
configuration epoch), or fails; ``_Discovery`` weighs the answers in the order they were
asked. The I/O around it is exercised against real Sentinels in
tests/integration/test_sentinel.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from socketio_redis_async.sentinel import (
    MasterUnavailableError,
    SentinelUnavailableError,
    UnknownServiceError,
    _announces,
    _Discovery,
    _role,
)

UNKNOWN = ResponseError("No such master with that name")


def state(port: int, epoch: int = 0, *, sdown: bool = False, master: bool = True) -> dict[str, Any]:
    """What redis-py makes of a ``SENTINEL MASTER`` reply (the fields discovery reads)."""
    return {
        "ip": "10.0.0.1",
        "port": port,
        "config-epoch": epoch,
        "is_master": master,
        "is_sdown": sdown,
        "is_odown": False,
    }


def ask(discovery: _Discovery, *answers: Any) -> tuple[str, int]:
    for index, answer in enumerate(answers):
        address = discovery.offer(f"s{index}:26379", answer)
        if address is not None:
            return address
    return discovery.result()


def test_the_first_usable_answer_wins_and_raises_the_floor() -> None:
    discovery = _Discovery("m", floor=0)
    assert ask(discovery, state(7000, epoch=3), state(7001, epoch=4)) == ("10.0.0.1", 7000)
    assert discovery.floor == 3


def test_a_master_reported_down_is_skipped() -> None:
    answers = (
        state(7000, sdown=True),
        {**state(7000), "is_odown": True},
        state(7000, master=False),
        state(7001),
    )
    assert ask(_Discovery("m", 0), *answers) == ("10.0.0.1", 7001)


def test_a_sentinel_that_missed_the_failover_is_not_believed() -> None:
    # s0 still names the old master (epoch 1); we have seen epoch 2 before
    discovery = _Discovery("m", floor=2)
    assert ask(discovery, state(7000, epoch=1), state(7001, epoch=2)) == ("10.0.0.1", 7001)


def test_a_stale_answer_is_not_used_while_a_current_sentinel_reports_the_master_down() -> None:
    with pytest.raises(MasterUnavailableError, match="'m'"):
        ask(_Discovery("m", floor=2), state(7000, epoch=1), state(7001, epoch=2, sdown=True))


def test_rebuilt_sentinels_are_followed_down_to_their_newest_epoch() -> None:
    # every answer is older than anything seen: the Sentinels were reset, not stale
    discovery = _Discovery("m", floor=9)
    assert ask(discovery, state(7000, epoch=0), state(7001, epoch=1)) == ("10.0.0.1", 7001)
    assert discovery.floor == 1


def test_no_sentinel_answering_is_reported_with_the_reasons() -> None:
    with pytest.raises(SentinelUnavailableError) as info:
        ask(
            _Discovery("m", 0),
            RedisConnectionError("Error 111 connecting to s0:26379. Connection refused."),
            AuthenticationError("Authentication required."),
        )
    message = str(info.value)
    assert "no Sentinel could be asked about 'm'" in message
    assert "s0:26379: Error 111" in message
    assert "s1:26379: Authentication required." in message


def test_an_unknown_service_is_reported_as_such() -> None:
    with pytest.raises(UnknownServiceError, match="no Sentinel knows a master named 'm'"):
        ask(_Discovery("m", 0), UNKNOWN, UNKNOWN)
    with pytest.raises(UnknownServiceError, match="unreachable: s1:26379: down"):
        ask(_Discovery("m", 0), UNKNOWN, RedisConnectionError("down"))


def test_a_known_service_without_a_usable_master_is_a_failover_in_progress() -> None:
    with pytest.raises(MasterUnavailableError, match="down, or failing over"):
        ask(_Discovery("m", 0), UNKNOWN, state(7000, sdown=True), RedisConnectionError("x"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"mymaster 10.0.0.1 7000 10.0.0.2 7001", True),
        ("mymaster 10.0.0.1 7000 10.0.0.2 7001", True),
        (b"mymaster2 10.0.0.1 7000 10.0.0.2 7001", False),
        (b"other 10.0.0.1 7000 10.0.0.2 7001", False),
        (1, False),
    ],
)
def test_switch_master_announcements_are_matched_by_service(data: Any, expected: bool) -> None:
    message = {"type": "message", "channel": b"+switch-master", "data": data}
    assert _announces(message, "mymaster") is expected


@pytest.mark.parametrize(
    ("reply", "role"),
    [
        ([b"master", 3129659, [[b"127.0.0.1", b"9001", b"3129242"]]], "master"),
        ([b"slave", b"127.0.0.1", 9000, b"connected", 3167038], "slave"),
        (["master", 0, []], "master"),
    ],
)
def test_role_replies(reply: Any, role: str) -> None:
    assert _role(reply) == role


def test_sentinels_failing_alike_are_reported_once() -> None:
    refused = AuthenticationError("Authentication required.")
    with pytest.raises(SentinelUnavailableError) as info:
        ask(_Discovery("m", 0), refused, refused, RedisConnectionError("Timeout"))
    assert str(info.value).endswith(
        "(unreachable: s0:26379, s1:26379: Authentication required.; s2:26379: Timeout)"
    )
