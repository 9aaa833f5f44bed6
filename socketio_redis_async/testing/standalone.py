"""One real ``redis-server`` process for tests, on a free loopback port.

Tests never touch a shared Redis (127.0.0.1:6379): each server here gets its own port and
temporary directory, so tests can stop, pause, restart or kill it without hurting anyone
else. Everything started is killed at interpreter exit as a safety net.

``RedisServer(tls=True)`` serves TLS only (``rediss://``), with a throw-away CA and
certificates that ``openssl`` writes into the server's directory at start-up;
``RedisServer.acl_setuser`` adds ACL users to a running server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "HOST",
    "MissingBinaryError",
    "RedisServer",
    "TlsFiles",
    "free_cluster_port",
    "free_port",
    "make_tls_files",
    "require_binary",
]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_live: set[RedisServer] = set()


def free_port() -> int:
    """Return a loopback port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too and still valid."""
    for _ in range(100):
        port = free_port()
        if port <= 55535 and _port_is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throw-away PKI: a CA, a server certificate for 127.0.0.1/localhost
    (subjectAltName) and a client certificate, all signed by the CA, keys unencrypted."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


_CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_LEAF_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
{san}
"""

# EC keys: generated in milliseconds, unlike RSA ones.
_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [require_binary("openssl", "openssl"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed:\n{done.stdout}{done.stderr}")


def make_tls_files(directory: Path, *, ca_name: str = "socketio-redis-async test CA") -> TlsFiles:
    """Write a CA and a server and a client certificate signed by it into ``directory``.

    The server certificate names ``IP:127.0.0.1`` and ``DNS:localhost`` in its
    subjectAltName, so clients verify it with hostname checking on. Certificates are valid
    for two days; a new directory gets a new CA, so two calls yield CAs that distrust each
    other.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        *(directory / name for name in (
            "ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key",
        ))
    )  # fmt: skip
    (directory / "ca.cnf").write_text(_CA_CONFIG.format(cn=ca_name))
    _openssl(
        "req", "-x509", "-new", *_NEW_KEY, "-config", "ca.cnf", "-extensions", "ext",
        "-days", "2", "-keyout", files.ca_key.name, "-out", files.ca_cert.name,
        cwd=directory,
    )  # fmt: skip
    leaves = (
        ("server", "localhost", "serverAuth", "subjectAltName = IP:127.0.0.1, DNS:localhost"),
        ("client", "socketio-redis-async test client", "clientAuth", ""),
    )
    for name, cn, usage, san in leaves:
        (directory / f"{name}.cnf").write_text(_LEAF_CONFIG.format(cn=cn, usage=usage, san=san))
        _openssl(
            "req", "-new", *_NEW_KEY, "-config", f"{name}.cnf",
            "-keyout", f"{name}.key", "-out", f"{name}.csr",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-days", "2",
            "-CA", files.ca_cert.name, "-CAkey", files.ca_key.name,
            "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
            "-extfile", f"{name}.cnf", "-extensions", "ext", "-out", f"{name}.crt",
            cwd=directory,
        )  # fmt: skip
    return files


class MissingBinaryError(RuntimeError):
    """A program the fixtures run (``redis-server``, ``redis-sentinel``, ``openssl``) is not
    on ``PATH``; the message says which package provides it."""


def require_binary(binary: str, package: str = "redis-server") -> str:
    """The path of ``binary``, or :class:`MissingBinaryError` naming the package to install."""
    path = shutil.which(binary)
    if path is None:
        hint = "brew install redis" if package.startswith("redis") else f"brew install {package}"
        raise MissingBinaryError(
            f"{binary} not found on PATH: the socketio_redis_async.testing fixtures start "
            f"their own {binary} processes; install it (Debian/Ubuntu: sudo apt-get install "
            f"{package}; macOS: {hint}) or put it on PATH"
        )
    return path


class RedisServer:
    """One ``redis-server`` child process bound to 127.0.0.1.

    The port is fixed at construction, so :meth:`restart` brings the server back where
    clients expect it (which is what reconnect tests need).

    With ``tls=True`` the port serves TLS only (``--tls-port``, plain ``--port 0``) and
    :attr:`url` is ``rediss://``; the certificates (:attr:`tls_files`, :attr:`ca_path`) are
    made at the first start and kept across restarts. ``tls_auth_clients`` is Redis's
    ``tls-auth-clients``: ``"no"`` (default), ``"optional"`` or ``"yes"`` (then
    :meth:`ssl_options` includes the client certificate).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        extra_args: Sequence[str] = (),
        password: str | None = None,
        tls: bool = False,
        tls_auth_clients: str = "no",
    ) -> None:
        if tls_auth_clients not in ("no", "optional", "yes"):
            raise ValueError(f"tls_auth_clients must be no, optional or yes: {tls_auth_clients!r}")
        self.port = port if port is not None else free_port()
        self.extra_args = tuple(extra_args)
        self.password = password
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self._tls_files: TlsFiles | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._paused = False

    binary = "redis-server"

    # -- state -----------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{self.scheme}://{auth}{HOST}:{self.port}/0"

    @property
    def scheme(self) -> str:
        return "rediss" if self.tls else "redis"

    def url_for(self, username: str, password: str) -> str:
        """The URL of this server for an ACL user (see :meth:`acl_setuser`)."""
        auth = f"{quote(username, safe='')}:{quote(password, safe='')}@"
        return f"{self.scheme}://{auth}{HOST}:{self.port}/0"

    @property
    def tls_files(self) -> TlsFiles:
        """The CA, server and client certificates of a TLS server (made on first use)."""
        if not self.tls:
            raise RuntimeError(f"{self!r} does not serve TLS")
        if self._tls_files is None:
            self._tls_files = make_tls_files(self.dir / "tls")
        return self._tls_files

    @property
    def ca_path(self) -> str:
        """The CA certificate clients must trust (``redis_options={"ssl_ca_certs": ...}``)."""
        return str(self.tls_files.ca_cert)

    def ssl_options(self, *, client_cert: bool | None = None) -> dict[str, Any]:
        """redis-py keyword arguments that make a trusted TLS client of this server.

        The client certificate is included when ``client_cert`` is true, or by default
        when the server requires one (``tls_auth_clients="yes"``).
        """
        if client_cert is None:
            client_cert = self.tls_auth_clients == "yes"
        options: dict[str, Any] = {"ssl_ca_certs": self.ca_path}
        if client_cert:
            options["ssl_certfile"] = str(self.tls_files.client_cert)
            options["ssl_keyfile"] = str(self.tls_files.client_key)
        return options

    @property
    def dir(self) -> Path:
        """The server's working directory (dump files, cluster config, ``redis.log``)."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"redis-{self.port}-"))
        return self._dir

    @property
    def log_path(self) -> Path:
        return self.dir / "redis.log"

    def log_tail(self, lines: int = 20) -> str:
        if self._dir is None:
            return "<no log>"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def client(self, **kwargs: Any) -> redis.Redis:
        """A sync client for this server, without retries so failures show; caller closes it."""
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        if self.tls:
            kwargs.setdefault("ssl", True)
            for name, value in self.ssl_options().items():
                kwargs.setdefault(name, value)
        return redis.Redis(host=HOST, port=self.port, password=self.password, **kwargs)

    def acl_setuser(self, username: str, *rules: str) -> None:
        """``ACL SETUSER username rule...`` as the default user (``reset`` is prepended, so
        the user has exactly ``rules``: e.g. ``"on", ">pw", "&chan#*", "+publish"``)."""
        with self.client(socket_timeout=2) as c:
            c.execute_command("ACL", "SETUSER", username, "reset", *rules)

    def acl_deluser(self, username: str) -> None:
        with self.client(socket_timeout=2) as c:
            c.execute_command("ACL", "DELUSER", username)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, *, wait: bool = True) -> RedisServer:
        """Spawn the server and wait until it answers PING.

        With ``wait=False`` it only spawns: several servers can then boot side by side,
        each followed by :meth:`wait_ready` (which kills the process if it never answers).
        """
        if self.is_running:
            return self
        with open(self.log_path, "ab") as log:
            # A new session keeps a terminal's Ctrl-C away from the server, so it is the
            # test run (its fixtures or the atexit hook) that stops it, in order.
            self._proc = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True,
            )  # fmt: skip
        self._paused = False
        _live.add(self)
        if wait:
            self.wait_ready()
        return self

    def _command(self) -> list[str]:
        """The command line of the process (a subclass may run another binary)."""
        if self.tls:
            files = self.tls_files
            ports = [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(files.server_cert),
                "--tls-key-file", str(files.server_key),
                "--tls-ca-cert-file", str(files.ca_cert),
                "--tls-auth-clients", self.tls_auth_clients,
            ]  # fmt: skip
        else:
            ports = ["--port", str(self.port)]
        return [
            require_binary("redis-server"),
            *ports,
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            *(["--requirepass", self.password] if self.password else []),
            *self.extra_args,
        ]  # fmt: skip

    def wait_ready(self) -> None:
        """Wait until the spawned process answers PING; kill it if it does not."""
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is None:
                raise RuntimeError(f"{self!r} was not started")
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.binary} on port {self.port} exited with {self._proc.returncode}:\n"
                    f"{self.log_tail()}"
                )
            try:
                with self.client(socket_timeout=0.5, socket_connect_timeout=0.5) as c:
                    if c.ping():
                        return
            except redis.RedisError as exc:
                last = exc
            time.sleep(0.01)
        raise TimeoutError(
            f"{self.binary} on port {self.port} did not answer PING within {START_TIMEOUT}s "
            f"({last!r}):\n{self.log_tail()}"
        )

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if self._paused:  # a stopped process would hold SIGTERM until continued
                proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
        self._paused = False
        _live.discard(self)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 5 s) and remove the working directory."""
        self._terminate()
        self._remove_dir()

    def restart(self) -> RedisServer:
        """Stop and start again on the same port and directory (data is not kept)."""
        self._terminate()
        return self.start()

    def kill(self) -> None:
        """SIGKILL: a crash, as seen by clients. ``start()`` brings it back."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self._paused = False
        _live.discard(self)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung Redis)."""
        if self._proc is not None and self.is_running:
            self._proc.send_signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._proc is not None and self.is_running:
            self._proc.send_signal(signal.SIGCONT)
            self._paused = False

    def client_kill_pubsub(self) -> int:
        """Drop every subscriber connection; returns how many were killed."""
        with self.client(socket_timeout=2) as c:
            return int(c.execute_command("CLIENT", "KILL", "TYPE", "pubsub"))

    def _remove_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._tls_files = None

    # -- async wrappers and context managers -------------------------------------------------

    async def astart(self) -> RedisServer:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> RedisServer:
        return await asyncio.to_thread(self.restart)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running" if self.is_running else "stopped"
        tls = " tls" if self.tls else ""
        return f"<{type(self).__name__} {HOST}:{self.port}{tls} {state}>"


@atexit.register
def _kill_leftovers() -> None:
    """Safety net: no redis-server outlives the test run, even after a failed teardown."""
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.kill()
            server._remove_dir()
