"""The public surface: ``__all__`` and the PEP 561 marker."""

from __future__ import annotations

import importlib
import importlib.resources
from pathlib import Path

import socketio_redis_async


def test_all_is_sorted_and_unique() -> None:
    names = socketio_redis_async.__all__
    assert list(names) == sorted(names)
    assert len(set(names)) == len(names)


def test_every_public_name_is_importable() -> None:
    module = importlib.import_module("socketio_redis_async")
    for name in socketio_redis_async.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from socketio_redis_async import *", namespace)
    assert set(socketio_redis_async.__all__) <= set(namespace)


def test_expected_public_names() -> None:
    assert set(socketio_redis_async.__all__) >= {
        "AsyncRedisAdapter",
        "ProtocolError",
        "SocketIORedisError",
        "AdapterClosedError",
        "JsonParser",
        "MsgpackParser",
        "Parser",
    }
    assert issubclass(socketio_redis_async.ProtocolError, socketio_redis_async.SocketIORedisError)
    assert issubclass(
        socketio_redis_async.AdapterClosedError, socketio_redis_async.SocketIORedisError
    )


def test_py_typed_ships_in_the_package_directory() -> None:
    package_dir = Path(socketio_redis_async.__file__).parent
    assert (package_dir / "py.typed").is_file()
    assert importlib.resources.files("socketio_redis_async").joinpath("py.typed").is_file()
