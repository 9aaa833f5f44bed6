"""Three Socket.IO servers behind nginx, with sticky sessions so long-polling works.

Starts ``aiohttp_app.py`` three times (servers ``a``, ``b``, ``c`` on free loopback ports,
one Redis between them) and nginx in the foreground with ``nginx/nginx.conf``, then serves
until Ctrl-C::

    REDIS_URL=redis://localhost:6379/0 python examples/nginx_cluster.py --port 8080

Clients connect to ``http://127.0.0.1:8080`` with any transport; ``whoami`` tells which
server a client landed on. Needs the ``nginx`` binary (Debian: ``apt-get install nginx``; its
system service need not run). nginx's pid file and temporary files go to ``--prefix``, by
default a temporary directory removed on exit.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from private_redis import free_port

HERE = Path(__file__).resolve().parent
NAMES = ("a", "b", "c")
START_TIMEOUT = 15.0


def render_config(port: int, backends: dict[str, int]) -> str:
    """``nginx/nginx.conf`` with its ``@PORT@`` and ``@PORT_<NAME>@`` placeholders filled."""
    text = (HERE / "nginx" / "nginx.conf").read_text()
    text = text.replace("@PORT@", str(port))
    for name, backend_port in backends.items():
        text = text.replace(f"@PORT_{name.upper()}@", str(backend_port))
    return text


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with status {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} is not listening on port {port}") from None
            time.sleep(0.05)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, one after the other: the servers first, so that the CLOSE packets they send
    their clients on the way out still pass through nginx, then nginx (fast shutdown)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(port: int, prefix: Path) -> int:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        raise SystemExit("nginx not found: install it (Debian/Ubuntu: apt-get install nginx)")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        backends = {name: free_port() for name in NAMES}
        for name, backend_port in backends.items():
            app = [sys.executable, str(HERE / "aiohttp_app.py"), "--name", name,
                   "--port", str(backend_port)]  # fmt: skip
            procs.append(subprocess.Popen(app))
            wait_listening(backend_port, procs[-1], f"server {name}")
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        config = prefix / "nginx.conf"
        config.write_text(render_config(port, backends))
        command = [nginx, "-e", "stderr", "-p", str(prefix), "-c", str(config)]
        procs.append(subprocess.Popen(command))
        wait_listening(port, procs[-1], "nginx")
        servers = ", ".join(f"{name}=127.0.0.1:{p}" for name, p in backends.items())
        print(f"nginx on http://127.0.0.1:{port} -> {servers} (Ctrl-C to stop)", flush=True)
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.2)
        print("a process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(procs)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="nginx listens here (loopback)")
    parser.add_argument("--prefix", type=Path, help="nginx's directory (default: a temporary one)")
    args = parser.parse_args()
    # SIGTERM stops the cluster as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.prefix is not None:
        return serve(args.port, args.prefix.resolve())
    prefix = Path(tempfile.mkdtemp(prefix="socketio-nginx-"))
    prefix.chmod(0o755)  # nginx's workers may run as another user (www-data) when root starts it
    try:
        return serve(args.port, prefix)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
