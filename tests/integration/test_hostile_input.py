"""Acceptance 5: garbage on every channel the adapter listens to is logged and dropped.

After each batch of garbage a valid broadcast must still arrive, which proves the single
reader task survived; the counters prove the garbage was seen and refused, not ignored.
"""

from __future__ import annotations

import json
import logging

import msgpack
import pytest
import redis.asyncio as aioredis
from support.sio_servers import eventually

VALID_UID = "Other1"


def broadcast(data, rooms=(), nsp="/"):
    return msgpack.packb(
        [
            VALID_UID,
            {"type": 2, "data": data, "nsp": nsp},
            {"rooms": list(rooms), "except": [], "flags": {}},
        ]
    )


GARBAGE_BROADCASTS = [
    b"",
    b"\xc1",  # never used in msgpack
    b"\x93\xa1",  # truncated
    broadcast(["ok"]) + b"trailing",
    json.dumps([VALID_UID, {"type": 2, "data": ["ev"], "nsp": "/"}, {}]).encode(),
    msgpack.packb([VALID_UID, {"type": 2, "data": ["ev"], "nsp": "/"}]),  # opts missing
    msgpack.packb({"uid": VALID_UID}),
    msgpack.packb([1, 2, 3]),
    msgpack.packb([VALID_UID, {"type": 5, "data": ["ev"], "nsp": "/"}, {}]),
    msgpack.packb([VALID_UID, {"type": 2, "data": [], "nsp": "/"}, {}]),
    msgpack.packb([VALID_UID, {"type": 2, "data": [42], "nsp": "/"}, {}]),
    msgpack.packb([VALID_UID, {"type": 2, "data": "ev", "nsp": "/"}, {}]),
    msgpack.packb([VALID_UID, {"type": 2, "data": ["ev"], "nsp": "/"}, {"rooms": "all"}]),
    msgpack.packb([VALID_UID, {"type": 2, "data": ["ev"], "nsp": "/"}, {"rooms": [{}]}]),
    msgpack.packb([VALID_UID, {"type": 2, "data": ["ev"], "nsp": "/"}, {"flags": []}]),
    b"\x93\xa6Other1\x83\xa4type\x02\xa4data\x91\xa3\xff\xfe\xfd",  # invalid UTF-8 str
    b"\x91" * 100_000 + b"\x00",  # nesting deeper than any decoder stack
    msgpack.packb([VALID_UID, {"type": 2, "data": ["big", "x" * 5_000_000], "nsp": "/"}, {}])[:-1],
]

GARBAGE_REQUESTS = [
    b"",
    b"{",
    b"{not json}",
    b'{"type": NaN}',
    b'{"uid": "x", "type": 42}',
    b'{"uid": "x"}',
    b'{"uid": 1, "type": 1, "requestId": "r"}',
    b'{"uid": "x", "type": 1}',  # no requestId
    b'{"uid": "x", "type": 2, "opts": {"rooms": "notalist"}, "rooms": ["r"]}',
    b'{"uid": "x", "type": 2, "opts": {"rooms": [], "except": []}, "rooms": [{"a": 1}]}',
    b'{"uid": "x", "type": 2, "sid": 5, "room": "r"}',
    b'{"uid": "x", "type": 4, "opts": {"rooms": [[]]}, "close": true}',
    b'{"uid": "x", "type": 5, "requestId": "r"}',  # REMOTE_FETCH without opts (crashes Node)
    b'{"uid": "x", "type": 6, "data": "notalist"}',
    b'{"uid": "x", "type": 7, "requestId": "r", "opts": {}}',  # BROADCAST without packet
    b'{"uid": "x", "type": 8, "requestId": "r", "clientCount": 1}',  # a response type
    msgpack.packb(
        {"uid": "x", "type": 7, "requestId": "r", "packet": {"type": 2, "data": []}, "opts": {}}
    ),
    b"\x81\xa4type\xc1",
    b"[1, 2, 3]",
]

GARBAGE_RESPONSES = [
    b"",
    b"{}",
    b'{"requestId": 5}',
    b'{"requestId": "r", "type": 8, "clientCount": "many"}',
    b'{"requestId": "r", "type": 8, "clientCount": -1}',
    b'{"requestId": "r", "type": 77}',
    msgpack.packb({"type": 9}),
    b"\xc1\xc1",
    b"[]",
]


@pytest.fixture
async def raw_redis(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.parametrize("namespace", ["/", "/admin"])
async def test_garbage_on_every_channel_is_dropped_and_the_listener_survives(
    servers, client_factory, raw_redis, namespace, caplog
):
    caplog.set_level(logging.WARNING, logger="socketio_redis_async")
    _a, b = servers
    client = await client_factory(b, namespaces=["/", "/admin"])
    await client.join("room1", namespace)
    ch = f"socket.io#{namespace}#"
    targets = {
        ch: GARBAGE_BROADCASTS,
        ch + "room1#": GARBAGE_BROADCASTS,
        f"socket.io-request{ch[9:]}": GARBAGE_REQUESTS,
        f"socket.io-response{ch[9:]}": GARBAGE_RESPONSES,
        f"socket.io-response{ch[9:]}{b.mgr.uid}#": GARBAGE_RESPONSES,
    }
    before = b.mgr.stats()
    published = 0
    for channel, payloads in targets.items():
        for payload in payloads:
            await raw_redis.publish(channel, payload)
            published += 1
        # after every channel's garbage, a valid broadcast must still be delivered
        await raw_redis.publish(ch, broadcast([f"alive-{channel}"], nsp=namespace))
        await eventually(lambda c=channel: client.events(f"alive-{c}", namespace))

    after = b.mgr.stats()
    assert after["dropped_malformed"] - before["dropped_malformed"] == published
    assert after["pending_requests"] == 0
    assert any("malformed" in r.message for r in caplog.records)
    # The garbage never reached the client as an event.
    assert {ev for ns, ev, _ in client.received if ns == namespace} == {
        f"alive-{c}" for c in targets
    }


async def test_replayed_and_unknown_request_ids_do_not_leak(servers, client_factory, raw_redis):
    a, b = servers
    on_b = await client_factory(b, ack_reply="ack")
    answers: list[str] = []
    await a.sio.emit("q", 1, to=on_b.sid(), callback=answers.append)
    await eventually(lambda: answers == ["ack"])
    # Replay a response for a finished request and one for an id nobody used.
    for request_id in ("nobody", "XXXXXX"):
        ack = msgpack.packb({"type": 9, "requestId": request_id, "packet": "forged"})
        await raw_redis.publish("socket.io-response#/#", ack)
    await a.sio.emit("sentinel", 1)
    await eventually(lambda: on_b.events("sentinel"))
    assert answers == ["ack"]
    assert a.mgr.stats()["pending_requests"] == 0
