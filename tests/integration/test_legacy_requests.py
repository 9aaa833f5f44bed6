"""Issue 3: request forms adapter 8.x no longer sends but older Node servers (and other
implementations) do: SOCKETS (type 0) and the sid forms of REMOTE_JOIN/LEAVE/DISCONNECT.
Each is answered with exactly the fields Node answers with (PROTOCOL.md 2.5 captures)."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis
from support.sio_servers import eventually, start_server
from support.sniffer import sniff


@pytest.fixture(params=[False, True], ids=["shared-channel", "specific-channel"])
async def server(request, redis_url):
    server = await start_server(redis_url, publish_on_specific_response_channel=request.param)
    yield server
    await server.stop()


async def ask(redis_url: str, request: dict, response_channel: str) -> dict:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with sniff(redis_url, response_channel) as sniffer:
            await client.publish("socket.io-request#/#", json.dumps(request))
            await eventually(lambda: sniffer.messages)
        return json.loads(sniffer.messages[0][1])
    finally:
        await client.aclose()


def response_channel(server) -> str:
    specific = server.mgr._options.publish_on_specific_response_channel
    return "socket.io-response#/#FOREIGN#" if specific else "socket.io-response#/#"


async def test_sockets_type_0(server, client_factory, redis_url):
    client = await client_factory(server)
    await client.join("room1")
    answer = await ask(
        redis_url,
        {"uid": "FOREIGN", "requestId": "req002", "type": 0, "rooms": ["room1"]},
        response_channel(server),
    )
    assert answer == {"requestId": "req002", "sockets": [client.sid()]}


async def test_legacy_join_leave_and_disconnect_by_sid(server, client_factory, redis_url):
    client = await client_factory(server)
    sid = client.sid()
    channel = response_channel(server)
    join = {"uid": "FOREIGN", "requestId": "req004", "type": 2, "sid": sid, "room": "r"}
    assert await ask(redis_url, join, channel) == {"requestId": "req004"}
    assert "r" in server.sio.rooms(sid)
    leave = {"uid": "FOREIGN", "requestId": "req005", "type": 3, "sid": sid, "room": "r"}
    assert await ask(redis_url, leave, channel) == {"requestId": "req005"}
    assert "r" not in server.sio.rooms(sid)
    bye = {"uid": "FOREIGN", "requestId": "req006", "type": 4, "sid": sid, "close": False}
    assert await ask(redis_url, bye, channel) == {"requestId": "req006"}
    await eventually(lambda: not client.client.connected)


async def test_a_sid_this_server_does_not_host_gets_no_answer(server, redis_url):
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with sniff(redis_url, "socket.io-response#*") as sniffer:
            request = {"uid": "F", "requestId": "r7", "type": 2, "sid": "X" * 20, "room": "r"}
            await client.publish("socket.io-request#/#", json.dumps(request))
            await server.sio.emit("sentinel")  # processed after the request, in order
            await server.mgr.flush()
            await client.publish(
                "socket.io-request#/#", json.dumps({"uid": "F", "requestId": "r8", "type": 1})
            )
            await eventually(lambda: sniffer.messages)
        assert [json.loads(m)["requestId"] for _, m in sniffer.messages] == ["r8"]
    finally:
        await client.aclose()
