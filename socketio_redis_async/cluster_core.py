"""What the two transports of Node's ClusterAdapter protocol (sharded, streams) share.

Both name a namespace's channels ``prefix#nsp#...``, use 16-hex ids, have no ALL_ROOMS request
and send every broadcast and request as a ClusterAdapter message; they differ in where a
message goes (``_send``): SPUBLISH by slot, or the stream and Pub/Sub.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from . import cluster_protocol as cp
from . import protocol as p
from .core import AdapterCore, CommonOptions

__all__ = ["ClusterAdapterCore"]


class ClusterAdapterCore(AdapterCore):
    """An :class:`AdapterCore` speaking Node's ClusterAdapter messages."""

    _has_rooms_request: ClassVar[bool] = False

    def __init__(self, options: CommonOptions) -> None:
        super().__init__(options, cp.new_cluster_uid())
        self._channels: dict[str, cp.ShardedChannels] = {}

    @property
    @abstractmethod
    def prefix(self) -> str:
        """The channel prefix (Node's ``channelPrefix``)."""

    @abstractmethod
    async def _send(self, namespace: str, body: cp.ClusterBody) -> None:
        """Publish one ClusterAdapter message the way the transport does."""

    def _new_request_id(self) -> str:
        return cp.new_cluster_uid()

    def _channels_of(self, namespace: str) -> cp.ShardedChannels:
        channels = self._channels.get(namespace)
        if channels is None:
            channels = self._channels[namespace] = cp.ShardedChannels(self.prefix, namespace)
        return channels

    async def _publish_broadcast(self, namespace: str, data: list[Any], target: p.Target) -> None:
        await self._send(namespace, p.Broadcast(self._uid, namespace, data, target))

    async def _publish_request(self, namespace: str, request: p.AnyRequest) -> None:
        await self._send(namespace, cp.request_body(request))
