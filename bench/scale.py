"""Scale curves: how throughput, latency, CPU and memory grow with servers, clients, rooms and
payload, for every implementation in one run.

    .venv/bin/python bench/scale.py                  # the full run (7 to 13 minutes)
    .venv/bin/python bench/scale.py --quick          # tiny counts: a smoke test (seconds)
    .venv/bin/python bench/scale.py --plot-only bench/results/scale-latest.json

Implementations: ``ours`` (AsyncRedisAdapter), ``manager`` (socketio.AsyncRedisManager), both
under Uvicorn (bench/py_server.py), and ``node`` (socket.io 4.8 + @socket.io/redis-adapter
8.3, bench/node/server.js); one private redis-server; per implementation one Node load
generator (bench/node/loadgen.js) holding its clients (a process may open 20,000 files here,
and the clients curve keeps 3 x 10,000 connected). Each curve varies one thing from the base point
(2 servers, 100 clients on each, broadcast to everyone, 100-byte payload):

  servers   2 -> 4 -> 8 servers on one Redis; server 0 emits, every server holds 100 clients
  clients   100 -> 1,000 -> 5,000 clients on each of 2 servers
  rooms     10 -> 1,000 -> 10,000 rooms; 2,500 clients on each of 2 servers, client g in
            3 - g % 3 rooms (10,001 memberships, given out round robin so every room has
            members); broadcast i goes to room i % R
  payload   100 B -> 10 KB -> 100 KB

At each point every implementation gets fresh servers (all three started together, each on
its own key), then, in an order rotated from point to point:

1. memory: RSS (/proc/<pid>/statm) of a receiving server (server 1) before any client, after
   its clients connected (KiB per client), and on the rooms curve after they joined their
   rooms (KiB per room the server holds);
2. burst: back-to-back broadcasts from server 0; deliveries/s = deliveries / (last receive -
   first send). The count aims at about the same number of deliveries per burst along a curve
   (every room at least once on the rooms curve; fewer, by the cube root of the size, for
   big payloads);
3. paced (after every implementation's burst at the point): broadcasts at half the burst
   broadcasts/s of the slowest implementation at that point, the same rate for all three, for
   about 3 s (at least 5 broadcasts); p50/p99 = receive wall time - the send time carried in
   the payload, over every delivery. Half the slowest one's burst rate is a load all three
   sustain, so the latency is that of delivery and not of a queue growing without bound.

CPU microseconds per broadcast from /proc/<pid>/stat (utime + stime) over the burst: the
emitting server, the mean of the receiving servers, all servers per delivery, Redis and the
load generator (whose CPU share of the burst says when it, not the servers, was the limit).

Output: bench/results/scale-<time>.json (+ scale-latest.json, server logs in
scale-<time>-logs/), the markdown table on stdout, and the plots scale-servers.png,
scale-clients.png, scale-rooms.png, scale-payload.png and scale-memory.png. A full run writes
the plots to docs/performance/ and the table into docs/performance.md; --quick writes them
next to the JSON; --plots-dir chooses (then docs/performance.md is left alone).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster import (
    BENCH,
    ROOT,
    SIO_IMPLS,
    Harness,
    LinePeer,
    Server,
    cpu_seconds,
    environment,
    raise_fd_limit,
    rss_bytes,
)

DOCS_DIR = ROOT / "docs" / "performance"
DOCS_PAGE = ROOT / "docs" / "performance.md"
TABLE_START = "<!-- scale-table:start -->"
TABLE_END = "<!-- scale-table:end -->"
PACED_FRACTION = 0.5
PACED_SECONDS = 3.0
PACED_MIN = 3
LOADGEN_BOUND = 0.9  # share of a core: above it a burst measures the load generator
# Engine.IO pings every 25 s by default: the idle clients of the other implementations, still
# connected during a burst or paced run, would be pinged in bursts (they connected together).
# No point lasts this long, so no ping is sent while measuring.
PING_INTERVAL = 600.0
IMPL_LABELS = {
    "ours": "ours (AsyncRedisAdapter)",
    "manager": "AsyncRedisManager",
    "node": "Node redis-adapter",
}
IMPL_COLORS = {"ours": "tab:blue", "manager": "tab:orange", "node": "tab:green"}


@dataclass(frozen=True)
class Curve:
    name: str
    title: str
    x_label: str
    log_x: bool = True


CURVES = {
    "servers": Curve("servers", "servers on one Redis", "servers", log_x=True),
    "clients": Curve("clients", "clients per server (2 servers)", "clients per server"),
    "rooms": Curve("rooms", "rooms (2 servers, each client in 1-3 rooms)", "rooms"),
    "payload": Curve("payload", "payload size (2 servers)", "payload bytes"),
}


@dataclass(frozen=True)
class Point:
    curve: str
    x: int
    servers: int = 2
    clients: int = 100  # per server
    rooms: int = 0  # 0: every broadcast to everyone; else round robin over this many rooms
    payload: int = 100
    count: int = 0  # broadcasts in the burst

    def client_rooms(self, server: int) -> list[list[str]] | None:
        """Each client's rooms on ``server``: client g (numbered across servers) is in
        3 - g % 3 rooms, the memberships handed out round robin over the rooms."""
        if not self.rooms:
            return None
        out: list[list[str]] = []
        m = 0
        for g in range((server + 1) * self.clients):
            k = 3 - g % 3
            if g >= server * self.clients:
                out.append([f"r{(m + j) % self.rooms}" for j in range(k)])
            m += k
        return out

    @property
    def room_names(self) -> list[str]:
        return [f"r{i}" for i in range(self.rooms)]

    @property
    def fanout(self) -> float:
        """Deliveries per broadcast."""
        if not self.rooms:
            return self.servers * self.clients
        memberships = sum(3 - g % 3 for g in range(self.servers * self.clients))
        return memberships / self.rooms


def burst_count(fanout: float, deliveries: int, lo: int, hi: int, rooms: int = 0) -> int:
    """Broadcasts for about ``deliveries`` deliveries, within [lo, hi], every room at least
    once."""
    return max(rooms, min(hi, max(lo, math.ceil(deliveries / fanout))))


def plan(quick: bool, curves: list[str]) -> list[Point]:
    """The points of the run: see the module docstring."""
    if quick:  # one point per curve
        servers, clients, rooms = (3,), (10,), (4,)
        payloads, per_server, room_clients = (2_000,), 5, 10
        target, lo, hi = 400, 5, 200
    else:
        servers, clients, rooms = (2, 4, 8), (100, 1_000, 5_000), (10, 1_000, 10_000)
        payloads, per_server, room_clients = (100, 10_000, 100_000), 100, 2_500
        target, lo, hi = 100_000, 5, 10_000
    points: list[Point] = []

    def add(p: Point, deliveries: int = target) -> None:
        count = burst_count(p.fanout, deliveries, lo, hi, p.rooms)
        points.append(Point(**{**asdict(p), "count": count}))

    if "servers" in curves:
        for n in servers:
            add(Point("servers", n, servers=n, clients=per_server))
    if "clients" in curves:
        for n in clients:
            add(Point("clients", n, clients=n))
    if "rooms" in curves:
        for n in rooms:
            add(Point("rooms", n, clients=room_clients, rooms=n))
    if "payload" in curves:
        for size in payloads:
            # fewer deliveries as the payload grows (by its cube root): a burst of 100 KB
            # payloads still carries 100x the bytes of one of 100 B, in a few seconds
            share = min(1.0, (100 / size) ** (1 / 3))
            add(Point("payload", size, clients=per_server, payload=size), int(target * share))
    return points


# --- measuring ---------------------------------------------------------------------------


class Run:
    """The harness, the run's options and everything measured so far."""

    def __init__(self, args: argparse.Namespace, harness: Harness) -> None:
        self.args = args
        self.h = harness
        self.results: list[dict[str, Any]] = []
        self.lgs: dict[str, LinePeer] = {}
        self.servers: dict[str, list[Server]] = {}  # the current point's, per implementation
        self.started = time.monotonic()

    def start(self, impls: list[str]) -> dict[str, Any]:
        """redis-server and one load generator per implementation (each holds up to 10,000
        sockets: a process may not open 30,000 here); returns their clock offsets."""
        self.h.start_redis()
        self.lgs = {impl: self.h.start_loadgen(f"loadgen-{impl}") for impl in impls}
        return {impl: self.h.clock_offset_ms(lg) for impl, lg in self.lgs.items()}

    def connect(self, p: Point, impl: str, servers: list[Server]) -> list[str]:
        groups = []
        for i, server in enumerate(servers):
            group = f"{impl}-{p.curve}-{p.x}-{i}"
            self.lgs[impl].call(
                "connect",
                group=group,
                url=server.url,
                n=p.clients,
                parallel=self.args.parallel,
                timeout=60 + p.clients / 20,
            )
            groups.append(group)
        return groups

    def disconnect(self, impl: str, groups: list[str]) -> None:
        for group in groups:
            self.lgs[impl].call("disconnect", group=group, timeout=60)
        time.sleep(self.args.settle)  # let the servers settle the disconnects

    def warm(self, impl: str, servers: list[Server], groups: list[str]) -> None:
        self.lgs[impl].call(
            "warm", control=servers[0].url, groups=groups, timeout_ms=30_000, timeout=60
        )

    def memory_and_burst(
        self, p: Point, impl: str, servers: list[Server], groups: list[str]
    ) -> dict[str, Any]:
        """Fresh servers: RSS before and after the clients (and their rooms), then the burst.
        The clients stay connected (``groups``, filled in) for the paced run."""
        receiver = servers[1]
        settle = self.args.settle
        time.sleep(settle)
        rss0 = rss_bytes(receiver.pid)
        groups += self.connect(p, impl, servers)
        time.sleep(settle)
        rss_clients = rss_bytes(receiver.pid)
        rss_rooms = None
        if p.rooms:
            for i, group in enumerate(groups):
                self.lgs[impl].call(
                    "join",
                    group=group,
                    client_rooms=p.client_rooms(i),
                    parallel=self.args.parallel,
                    timeout=60 + p.clients / 20,
                )
            time.sleep(settle)
            rss_rooms = rss_bytes(receiver.pid)
        self.warm(impl, servers, groups)
        result = self.measure(p, impl, servers, groups, rate=0.0, count=p.count)
        held = p.client_rooms(1) or []
        rooms_held = len({room for rooms in held for room in rooms})
        memberships = sum(len(rooms) for rooms in held)
        result["memory"] = {
            "server": receiver.name,
            "rss_0_bytes": rss0,
            "rss_clients_bytes": rss_clients,
            "rss_rooms_bytes": rss_rooms,
            "clients": p.clients,
            "rooms_held": rooms_held,
            "memberships": memberships,
            "kib_per_client": (rss_clients - rss0) / p.clients / 1024,
            "kib_per_room": (rss_rooms - rss_clients) / rooms_held / 1024
            if rss_rooms is not None and rooms_held
            else None,
            "bytes_per_membership": (rss_rooms - rss_clients) / memberships
            if rss_rooms is not None and memberships
            else None,
        }
        return result

    def wait_idle(self, window: float = 0.2, timeout: float = 30.0) -> float:
        """Wait until this point's servers and the load generators use under 10 % of a core:
        a Python server takes ~1.7 ms of CPU per disconnect, so the 10,000 clients an
        implementation just let go would otherwise eat into the next one's measurement.
        Returns the seconds waited."""
        pids = [s.pid for group in self.servers.values() for s in group]
        pids += [lg.pid for lg in self.lgs.values()]
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = sum(cpu_seconds(pid) for pid in pids)
            time.sleep(window)
            if sum(cpu_seconds(pid) for pid in pids) - before < 0.1 * window:
                break
        return round(time.monotonic() - started, 2)

    def paced(
        self, p: Point, impl: str, servers: list[Server], groups: list[str], rate: float
    ) -> dict[str, Any]:
        count = max(PACED_MIN, math.ceil(rate * self.args.paced_seconds))
        return self.measure(p, impl, servers, groups, rate=rate, count=count)

    def measure(
        self,
        p: Point,
        impl: str,
        servers: list[Server],
        groups: list[str],
        rate: float,
        count: int,
    ) -> dict[str, Any]:
        assert self.h.redis_proc is not None
        pids = {s.name: s.pid for s in servers}
        pids["loadgen"] = self.lgs[impl].pid
        pids["redis"] = self.h.redis_proc.pid
        params = {
            "count": count,
            "rate": rate,
            "payload_size": p.payload,
            "rooms": p.room_names,
        }
        hard = self.args.hard_timeout
        idle_wait = self.wait_idle()
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        t0 = time.monotonic()
        counts = self.lgs[impl].call(
            "run",
            control=servers[0].url,
            groups=groups,
            params=params,
            idle_timeout_ms=self.args.idle_timeout * 1000,
            hard_timeout_ms=hard * 1000,
            timeout=hard + 30,
        )
        wall = time.monotonic() - t0
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        first_send, last_recv = counts.get("first_send"), counts.get("last_recv")
        span = (last_recv - first_send) / 1000 if first_send and last_recv else None
        received = counts["received"]
        server_cpu = [cpu[s.name] for s in servers]
        receivers = server_cpu[1:]
        return {
            "curve": p.curve,
            "x": p.x,
            "impl": impl,
            "phase": "paced" if rate else "burst",
            "point": asdict(p),
            "count": count,
            "rate": rate,
            "expected": counts["expected"],
            "received": received,
            "lost": counts["lost"],
            "duplicates": counts["duplicates"],
            "unexpected": counts["unexpected"],
            "disconnects": counts["disconnects"],
            "timed_out": counts["timed_out"],
            "span_s": span,
            "window_s": wall,
            "deliveries_per_s": received / span if span else None,
            "broadcasts_per_s": count / span if span else None,
            "cpu_s": cpu,
            "emitter_us_per_broadcast": server_cpu[0] * 1e6 / count,
            "receiver_us_per_broadcast": sum(receivers) / len(receivers) * 1e6 / count,
            "servers_us_per_delivery": sum(server_cpu) * 1e6 / received if received else None,
            "redis_us_per_broadcast": cpu["redis"] * 1e6 / count,
            "loadgen_us_per_delivery": cpu["loadgen"] * 1e6 / received if received else None,
            "loadgen_busy": cpu["loadgen"] / span if span else None,
            "latency_ms": counts["latency_ms"],
            "seq_max_ms": counts["seq_max_ms"] if rate else None,
            "idle_wait_s": idle_wait,
        }

    def point(self, index: int, p: Point, impls: list[str]) -> None:
        shift = index % len(impls)
        order = impls[shift:] + impls[:shift]
        servers: dict[str, list[Server]] = {}
        # Every implementation's clients stay connected from its burst to its paced run: a
        # second handshake of 10,000 clients would cost a Python server ~15 s of CPU.
        groups: dict[str, list[str]] = {impl: [] for impl in order}
        try:
            spawned = {
                impl: [
                    self.h.spawn_server(impl, f"{impl}-{p.curve}{p.x}-{i}", f"s-{impl}-{index}")
                    for i in range(p.servers)
                ]
                for impl in order
            }
            servers = self.servers = spawned
            self.h.wait_ready([s for group in spawned.values() for s in group], timeout=60)
            print(
                f"scale: {time.monotonic() - self.started:5.0f}s {p.curve}={p.x}: "
                f"{p.servers} servers x {len(order)} ready",
                file=sys.stderr,
            )
            bursts = {}
            for impl in order:
                bursts[impl] = self.memory_and_burst(p, impl, servers[impl], groups[impl])
                self.results.append(bursts[impl])
                self.log(bursts[impl])
            rates = [r["broadcasts_per_s"] for r in bursts.values() if r["broadcasts_per_s"]]
            rate = PACED_FRACTION * min(rates) if rates else 1.0
            for impl in order:
                result = self.paced(p, impl, servers[impl], groups[impl], rate)
                self.results.append(result)
                self.log(result)
                self.disconnect(impl, groups.pop(impl))
        finally:
            for impl, mine in groups.items():
                with contextlib.suppress(Exception):  # already failing: stop the servers
                    self.disconnect(impl, mine)
            for group in servers.values():
                self.h.stop_servers(group)

    def log(self, r: dict[str, Any]) -> None:
        lat = r["latency_ms"]
        what = (
            f"{fmt(r['deliveries_per_s'])} deliv/s"
            if r["phase"] == "burst"
            else f"at {r['rate']:.1f}/s p50 {fmt(lat['p50'], 1)} p99 {fmt(lat['p99'], 1)} ms"
        )
        print(
            f"scale: {time.monotonic() - self.started:5.0f}s {r['curve']}={r['x']:<6} "
            f"{r['impl']:<8} {r['phase']:<5} {what}"
            f"  lost {r['lost']}",
            file=sys.stderr,
        )


# --- summary, table, plots ------------------------------------------------------------------


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (curve, x, impl): the burst's throughput, CPU and memory, the paced run's
    latency."""
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for r in results:
        key = (r["curve"], r["x"], r["impl"])
        row = rows.setdefault(key, {"curve": r["curve"], "x": r["x"], "impl": r["impl"], "lost": 0})
        row["lost"] += r["lost"]
        if r["phase"] == "burst":
            mem = r["memory"]
            row.update(
                deliveries_per_s=r["deliveries_per_s"],
                broadcasts_per_s=r["broadcasts_per_s"],
                burst_count=r["count"],
                emitter_us_per_broadcast=r["emitter_us_per_broadcast"],
                receiver_us_per_broadcast=r["receiver_us_per_broadcast"],
                servers_us_per_delivery=r["servers_us_per_delivery"],
                loadgen_busy=r["loadgen_busy"],
                kib_per_client=mem["kib_per_client"],
                kib_per_room=mem["kib_per_room"],
                bytes_per_membership=mem["bytes_per_membership"],
            )
        else:
            row.update(
                paced_rate=r["rate"],
                paced_count=r["count"],
                p50_ms=r["latency_ms"]["p50"],
                p99_ms=r["latency_ms"]["p99"],
            )
    return list(rows.values())


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def fmt_x(curve: str, x: int) -> str:
    if curve == "payload":
        return f"{x / 1000:g} KB" if x >= 1000 else f"{x} B"
    return f"{x:,}"


def render_table(report: dict[str, Any]) -> str:
    """The markdown table: one section per curve, a row per point and implementation."""
    out: list[str] = []
    rows = report["summary"]
    for curve in report["curves"]:
        mine = [r for r in rows if r["curve"] == curve]
        if not mine:
            continue
        info = CURVES[curve]
        rooms = curve == "rooms"
        header = [
            info.x_label, "implementation", "deliveries/s", "broadcasts/s",
            "p99 ms (p50) at rate/s", "emitter µs/bc", "receiver µs/bc",
            "servers µs/delivery", "KiB/client",
        ] + (["KiB/room", "B/membership"] if rooms else []) + ["lost"]  # fmt: skip
        out.append(f"**{info.title}**")
        out.append("")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" if i < 2 else "--:" for i in range(len(header))) + "|")
        for x in sorted({r["x"] for r in mine}):
            for impl in report["impls"]:
                row = next((r for r in mine if r["x"] == x and r["impl"] == impl), None)
                if row is None:
                    continue
                p99 = (
                    f"{fmt(row.get('p99_ms'), 1)} ({fmt(row.get('p50_ms'), 1)}) "
                    f"at {fmt(row.get('paced_rate'), 1)}"
                )
                bound = " †" if (row.get("loadgen_busy") or 0) >= LOADGEN_BOUND else ""
                cells = [
                    fmt_x(curve, x), impl, fmt(row.get("deliveries_per_s")) + bound,
                    fmt(row.get("broadcasts_per_s")), p99,
                    fmt(row.get("emitter_us_per_broadcast")),
                    fmt(row.get("receiver_us_per_broadcast")),
                    fmt(row.get("servers_us_per_delivery"), 1),
                    fmt(row.get("kib_per_client"), 1),
                ] + (
                    [fmt(row.get("kib_per_room"), 2), fmt(row.get("bytes_per_membership"))]
                    if rooms else []
                ) + [str(row["lost"])]  # fmt: skip
                out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out.append(
        f"† the load generator used {LOADGEN_BOUND:.0%} or more of a core during the burst: "
        "the clients, not the servers, set that rate; compare the CPU columns."
    )
    out.append("")
    env = report["environment"]
    out.append(
        f"Run {report['started']} ({'quick' if report['quick'] else 'full'}, "
        f"{report['duration_s']} s), load average {env['loadavg_start'].split()[0]} at start, "
        f"{env.get('loadavg_end', '-').split()[0]} at end, {env['cpus']} CPUs."
    )
    return "\n".join(out)


def plot_implementations(ax: Any, impls: list[str], rows: list[dict[str, Any]], key: str) -> None:
    """One line per implementation: ``key`` against the curve's x, where measured."""
    for impl in impls:
        pts = sorted((r["x"], r[key]) for r in rows if r["impl"] == impl and r.get(key) is not None)
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=IMPL_LABELS[impl],
                    color=IMPL_COLORS[impl])  # fmt: skip


def plot(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """One PNG per curve (deliveries/s, p99, server CPU per delivery) and one of memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = report["summary"]
    written = []
    for curve in report["curves"]:
        mine = [r for r in rows if r["curve"] == curve]
        if not mine:
            continue
        info = CURVES[curve]
        panels = [
            ("deliveries_per_s", "deliveries/s (burst)", False),
            ("p99_ms", "p99 latency ms (paced)", True),
            ("servers_us_per_delivery", "server CPU µs per delivery", True),
        ]
        if curve == "rooms":  # deliveries per broadcast fall as 10,001 / rooms
            panels.insert(1, ("broadcasts_per_s", "broadcasts/s (burst)", True))
        fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.8))
        for ax, (key, label, log_y) in zip(axes, panels, strict=True):
            plot_implementations(ax, report["impls"], mine, key)
            ax.set_xlabel(info.x_label)
            ax.set_title(label, fontsize=10)
            if info.log_x:
                ax.set_xscale("log")
            if log_y:  # labelled 1, 2, 5, 10, 20, ... rather than powers of ten only
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,g}"))
                ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            else:
                ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.set_xticks(sorted({r["x"] for r in mine}))
            ax.set_xticklabels([fmt_x(curve, x) for x in sorted({r["x"] for r in mine})])
            ax.minorticks_off()
            ax.grid(True, alpha=0.3)
        axes[0].set_ylim(bottom=0)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"Scale: {info.title}", fontsize=11)
        fig.tight_layout()
        path = out_dir / f"scale-{curve}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    mem_panels = [
        ("clients", "kib_per_client", "RSS KiB per client (receiving server)"),
        ("rooms", "kib_per_room", "RSS KiB per room held (receiving server)"),
    ]
    present = [m for m in mem_panels if any(r["curve"] == m[0] for r in rows)]
    if present:
        fig, axes = plt.subplots(1, len(present), figsize=(4.5 * len(present) + 1, 3.8))
        axes = axes if len(present) > 1 else [axes]
        for ax, (curve, key, label) in zip(axes, present, strict=True):
            mine = [r for r in rows if r["curve"] == curve]
            plot_implementations(ax, report["impls"], mine, key)
            xs = sorted({r["x"] for r in mine})
            ax.set_xscale("log")
            ax.set_xticks(xs)
            ax.set_xticklabels([fmt_x(curve, x) for x in xs])
            ax.minorticks_off()
            ax.set_xlabel(CURVES[curve].x_label)
            ax.set_title(label, fontsize=10)
            ax.grid(True, alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Scale: memory", fontsize=11)
        fig.tight_layout()
        path = out_dir / "scale-memory.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def update_docs_page(table: str, page: Path = DOCS_PAGE) -> None:
    """Replace the table between the markers of docs/performance.md."""
    text = page.read_text()
    head, sep, rest = text.partition(TABLE_START)
    _, sep2, tail = rest.partition(TABLE_END)
    if not sep or not sep2:
        raise SystemExit(f"{page}: no {TABLE_START} ... {TABLE_END} section")
    page.write_text(f"{head}{TABLE_START}\n\n{table}\n\n{TABLE_END}{tail}")


def publish(report: dict[str, Any], plots_dir: Path | None, default_dir: Path) -> None:
    """Plots and the table: to docs/ for a full run unless --plots-dir says elsewhere."""
    table = render_table(report)
    to_docs = plots_dir is None and not report["quick"]
    out_dir = DOCS_DIR if to_docs else (plots_dir or default_dir)
    written = plot(report, out_dir)
    if to_docs:
        update_docs_page(table)
    else:
        (out_dir / "scale-table.md").write_text(table + "\n")
    print(table)
    print()
    print("plots: " + ", ".join(str(p) for p in written))
    if to_docs:
        print(f"table: {DOCS_PAGE}")


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Scale curves of the Socket.IO cluster, implementations interleaved",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    ap.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    ap.add_argument("--impls", default=",".join(SIO_IMPLS), help="comma-separated subset")
    ap.add_argument("--curves", default=",".join(CURVES), help="comma-separated subset")
    ap.add_argument("--out", type=Path, help="JSON path (default bench/results/scale-<time>.json)")
    ap.add_argument("--plots-dir", type=Path, help="where the PNGs and the table go")
    ap.add_argument("--plot-only", type=Path, metavar="JSON", help="redraw from a saved run")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--parallel", type=int, default=50, help="handshakes in flight at once")
    ap.add_argument("--paced-seconds", type=float, help=f"default {PACED_SECONDS:g}; --quick 0.3")
    ap.add_argument("--settle", type=float, help="s of pause before RSS readings and after a run")
    ap.add_argument("--idle-timeout", type=float, help="s of silence before a run gives up")
    ap.add_argument("--hard-timeout", type=float, help="s before a run gives up regardless")
    args = ap.parse_args(argv)
    if args.paced_seconds is None:
        args.paced_seconds = 0.3 if args.quick else PACED_SECONDS
    if args.settle is None:
        args.settle = 0.1 if args.quick else 0.5
    if args.idle_timeout is None:
        args.idle_timeout = 2.0 if args.quick else 5.0
    if args.hard_timeout is None:
        args.hard_timeout = 20.0 if args.quick else 120.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot_only:
        report = json.loads(args.plot_only.read_text())
        publish(report, args.plots_dir, args.plot_only.parent / args.plot_only.stem)
        return 0
    started = time.monotonic()
    loadavg_start = Path("/proc/loadavg").read_text().strip()
    impls = [i for i in args.impls.split(",") if i]
    curves = [c for c in args.curves.split(",") if c]
    for name in impls:
        if name not in SIO_IMPLS:
            raise SystemExit(f"unknown implementation {name!r}; choose from {SIO_IMPLS}")
    for name in curves:
        if name not in CURVES:
            raise SystemExit(f"unknown curve {name!r}; choose from {tuple(CURVES)}")
    points = plan(args.quick, curves)
    most = max(p.servers * p.clients for p in points)  # per load generator
    fd_limit = raise_fd_limit(most + 1024)

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or BENCH / "results" / f"scale-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / f"{out.stem}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    harness = Harness(log_dir, loop=args.loop, ping_interval=PING_INTERVAL)
    run = Run(args, harness)
    clock: dict[str, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"scale: {len(points)} points x {', '.join(impls)}", file=sys.stderr)
        clock = run.start(impls)
        for index, p in enumerate(points):
            run.point(index, p, impls)
    finally:
        harness.stop()

    report = {
        "started": stamp,
        "command": " ".join([Path(sys.executable).name, "bench/scale.py", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "impls": impls,
        "curves": curves,
        "points": [asdict(p) for p in points],
        "paced": {
            "fraction_of_slowest_burst": PACED_FRACTION,
            "seconds": args.paced_seconds,
            "min_broadcasts": PACED_MIN,
        },
        "summary": summarize(run.results),
        "results": run.results,
        "environment": {
            **environment(args.loop, loadavg_start),
            "clock": clock,
            "fd_limit": fd_limit,
            "loadavg_end": Path("/proc/loadavg").read_text().strip(),
        },
        "duration_s": round(time.monotonic() - started, 1),
    }
    out.write_text(json.dumps(report, indent=2))
    if args.out is None:
        shutil.copyfile(out, out.parent / "scale-latest.json")
    publish(report, args.plots_dir, out.parent / out.stem)
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
