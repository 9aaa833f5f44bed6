"""The process machinery bench/run.py and bench/scale.py share: a private redis-server, any
number of Socket.IO servers per implementation, and the Node load generator.

    harness = Harness(log_dir)
    harness.start()                                  # redis-server + bench/node/loadgen.js
    servers = harness.start_servers("ours", 4, key="bench-ours")
    ...                                              # harness.loadgen.call("connect", ...)
    harness.stop_servers(servers)
    harness.stop()

Python servers are bench/py_server.py under Uvicorn (``ours`` is AsyncRedisAdapter,
``manager`` socketio.AsyncRedisManager), Node servers bench/node/server.js (socket.io 4.8 +
@socket.io/redis-adapter 8.3). Every child runs in its own session, is logged to
``log_dir/<name>.log`` and is stopped on :meth:`Harness.stop` whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clock import now_ms

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
NODE_MODULES = ROOT / "tests" / "interop" / "node" / "node_modules"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

SIO_IMPLS = ("ours", "manager", "node")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the ")": state is field 3, so utime (14) and stime (15) are at 11 and 12
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit (children inherit it) to at least ``needed``:
    the load generator holds one socket per client, a server one per client of its own.
    Returns the soft limit now in force; raises SystemExit if it cannot reach ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else max(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard)))
    except (ValueError, OSError):
        # not root: the soft limit can still go up to the hard one
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        raise SystemExit(f"open-file limit {soft} < {needed} needed: raise `ulimit -n`")
    return soft


class Procs:
    """Every child process of the run; all are stopped on exit, whatever happens."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, name: str, cmd: list[str], *, pipes: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C reaches the driver only
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, procs: list[subprocess.Popen[bytes]]) -> None:
        """Stop some of the children (servers of one measurement point) and forget them."""
        chosen = [(n, p) for n, p in self.procs if p in procs]
        self.procs = [(n, p) for n, p in self.procs if p not in procs]
        self._stop(chosen)

    def stop_all(self) -> None:
        """The clients and servers first, then redis-server (the first one started)."""
        if self.procs:
            self._stop(self.procs[1:])
            self._stop(self.procs[:1])
        self.procs.clear()

    @staticmethod
    def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        for _, proc in reversed(procs):
            if proc.poll() is None:
                if proc.stdin:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                proc.terminate()
        deadline = time.monotonic() + 5
        for _, proc in reversed(procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class LinePeer:
    """A child spoken to with one JSON object per line (loadgen.js, raw.py)."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.proc = proc
        self._buf = b""
        self._next_id = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _readline(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no answer within {timeout:.0f}s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited (code {self.proc.poll()})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def wait_ready(self, timeout: float = 30) -> None:
        msg = self._readline(timeout)
        if not msg.get("ready"):
            raise RuntimeError(f"{self.name}: unexpected first line {msg!r}")

    def send(self, op: str, **params: Any) -> int:
        assert self.proc.stdin is not None
        self._next_id += 1
        self.proc.stdin.write(json.dumps({"id": self._next_id, "op": op, **params}).encode())
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        return self._next_id

    def recv(self, request_id: int, timeout: float) -> Any:
        msg = self._readline(timeout)
        if msg.get("id") != request_id:
            raise RuntimeError(f"{self.name}: answer {msg!r} to request {request_id}")
        if not msg.get("ok"):
            raise RuntimeError(f"{self.name}: {msg.get('error')}")
        return msg["result"]

    def call(self, op: str, timeout: float = 60, **params: Any) -> Any:
        return self.recv(self.send(op, **params), timeout)


def wait_http(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    url = f"http://{HOST}:{port}/socket.io/?EIO=4&transport=polling"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see its log")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
            if resp.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not answer on port {port} within {timeout}s")


@dataclass
class Server:
    name: str
    impl: str
    key: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


def subscription_channel(impl: str, key: str) -> str:
    """The channel every server of ``impl`` subscribes to once it is ready for traffic."""
    return key if impl == "manager" else f"{key}-request#/#"


class Harness:
    """A private redis-server, the servers started on it, and the load generator."""

    def __init__(
        self, log_dir: Path, loop: str = "asyncio", ping_interval: float | None = None
    ) -> None:
        self.log_dir = log_dir
        self.loop = loop
        self.ping_interval = ping_interval  # seconds; None: each library's default (25)
        self.procs = Procs(log_dir)
        self.redis_port = free_port()
        self.redis_url = f"redis://{HOST}:{self.redis_port}/0"
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.loadgen: LinePeer | None = None
        self.node_env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}

    def start_redis(self) -> None:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise SystemExit("redis-server not found: run ./scripts/bench.sh (it installs it)")
        redis_dir = Path(tempfile.mkdtemp(prefix="bench-redis-", dir=self.log_dir))
        self.redis_proc = self.procs.spawn(
            "redis",
            [
                redis_server, "--port", str(self.redis_port), "--bind", HOST,
                "--save", "", "--appendonly", "no", "--dir", str(redis_dir),
            ],
        )  # fmt: skip
        self._wait_redis()

    def start_loadgen(self, name: str = "loadgen") -> LinePeer:
        """A load generator; the first one started is :attr:`loadgen`."""
        peer = LinePeer(
            name,
            self.procs.spawn(
                name, ["node", str(BENCH / "node" / "loadgen.js")], pipes=True, env=self.node_env
            ),
        )
        peer.wait_ready()
        if self.loadgen is None:
            self.loadgen = peer
        return peer

    def start(self) -> None:
        self.start_redis()
        self.start_loadgen()

    def spawn_server(self, impl: str, name: str, key: str) -> Server:
        """Start one server (without waiting for it): see :meth:`start_servers`."""
        port = free_port()
        if impl in ("ours", "manager"):
            cmd = [
                sys.executable, str(BENCH / "py_server.py"), "--impl", impl,
                "--port", str(port), "--redis", self.redis_url, "--role", name,
                "--key", key, "--loop", self.loop,
            ]  # fmt: skip
            env = None
        elif impl == "node":
            cmd = [
                "node", str(BENCH / "node" / "server.js"), "--port", str(port),
                "--redis", self.redis_url, "--role", name, "--key", key,
            ]  # fmt: skip
            env = self.node_env
        else:
            raise ValueError(f"unknown implementation {impl!r}")
        if self.ping_interval:
            cmd += ["--ping-interval", f"{self.ping_interval:g}"]
        return Server(name, impl, key, self.procs.spawn(name, cmd, env=env), port)

    def start_servers(
        self, impl: str, n: int, key: str, names: list[str] | None = None
    ) -> list[Server]:
        """``n`` servers of ``impl`` sharing ``key``, each answering HTTP and subscribed."""
        names = names or [f"{key}-{i}" for i in range(n)]
        servers = [self.spawn_server(impl, name, key) for name in names]
        self.wait_ready(servers)
        return servers

    def wait_ready(self, servers: list[Server], timeout: float = 30) -> None:
        """Every server answers HTTP and holds its Redis subscription (counted per key)."""
        for server in servers:
            wait_http(server.port, server.proc, server.name, timeout)
        wanted: dict[str, int] = {}
        for server in servers:
            channel = subscription_channel(server.impl, server.key)
            wanted[channel] = wanted.get(channel, 0) + 1
        self.wait_subscribed(wanted, timeout)

    def wait_subscribed(self, wanted: dict[str, int], timeout: float = 15) -> None:
        """PUBSUB NUMSUB of each channel reaches its count."""
        deadline = time.monotonic() + timeout
        with self.redis() as r:
            while True:
                counts = dict(r.pubsub_numsub(*wanted)) if wanted else {}
                missing = [ch for ch, n in wanted.items() if counts.get(ch.encode(), 0) < n]
                if not missing:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not subscribed after {timeout}s: {missing}")
                time.sleep(0.05)

    def stop_servers(self, servers: list[Server]) -> None:
        self.procs.stop([s.proc for s in servers])

    def redis(self) -> Any:
        import redis

        return redis.Redis(host=HOST, port=self.redis_port, socket_timeout=5)

    def _wait_redis(self) -> None:
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError), self.redis() as r:
                if r.ping():
                    return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def clock_offset_ms(self, peer: LinePeer | None = None, samples: int = 25) -> dict[str, float]:
        """A load generator's clock minus Python's, from the exchange with the shortest
        round trip: a check that both read bench/clock.py's clock (about 0, within the
        round trip); latencies of Python-sent messages would be off by this much."""
        peer = peer or self.loadgen
        assert peer is not None
        best: tuple[float, float] | None = None
        for _ in range(samples):
            before = now_ms()
            node_now = peer.call("clock", timeout=10)["now"]
            after = now_ms()
            rtt = after - before
            if best is None or rtt < best[0]:
                best = (rtt, node_now - (before + after) / 2)
        assert best is not None
        return {"offset_ms": round(best[1], 3), "rtt_ms": round(best[0], 3)}

    def stop(self) -> None:
        self.procs.stop_all()


def environment(loop: str, loadavg_start: str) -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    from importlib.metadata import version

    versions: dict[str, Any] = {"python": platform.python_version()}
    for module in ("socketio", "engineio", "redis", "uvicorn", "wsproto", "msgpack", "hiredis"):
        dist = {"socketio": "python-socketio", "engineio": "python-engineio"}.get(module, module)
        with contextlib.suppress(Exception):
            versions[module] = version(dist)
    with contextlib.suppress(Exception):
        versions["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    for pkg in ("socket.io", "@socket.io/redis-adapter", "socket.io-client", "redis"):
        with contextlib.suppress(Exception):
            versions[f"npm:{pkg}"] = json.loads((NODE_MODULES / pkg / "package.json").read_text())[
                "version"
            ]
    with contextlib.suppress(Exception):
        versions["redis-server"] = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return {
        "versions": versions,
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg_start,
        "event_loop": loop,
        "uvicorn": {"http": "h11", "ws": "auto (wsproto unless websockets is installed)"},
        "clk_tck": CLK_TCK,
        "platform": platform.platform(),
    }


def node_ready() -> bool:
    """node and the npm packages of tests/interop/node are there."""
    return shutil.which("node") is not None and (NODE_MODULES / "socket.io-client").is_dir()
