"""Benchmark a 2-server Socket.IO cluster on Redis, every implementation interleaved in one run.

    .venv/bin/python bench/run.py              # the full run (a few minutes)
    .venv/bin/python bench/run.py --quick      # tiny counts: a smoke test (seconds)
    .venv/bin/python bench/run.py --profile    # also py-spy our servers A and B under S1

One private redis-server; per implementation two servers A and B (separate processes) and one
load generator (bench/node/loadgen.js, Node socket.io-client, websocket transport) holding
every client connection. A runs the emit loop when the load generator's control client asks
(``bench:run``); B only relays through Redis to its clients. Scenarios:

  S1 pipe     1 client on B, 20,000 back-to-back broadcasts from A, 100-byte payload
  S2 fanout   100 clients on each server, 2,000 broadcasts
  S3 latency  100 clients on B, 200 broadcasts/s, p50/p99 send -> receive
  S4 rooms    100 clients on B in 10 rooms, each broadcast to one room (round robin)
  mem         RSS of a fresh B with 100 clients minus with 0, per client

Implementations: ``ours`` (AsyncRedisAdapter), ``manager`` (socketio.AsyncRedisManager),
``node`` (socket.io 4.8 + @socket.io/redis-adapter 8.3), and the raw ceiling ``raw`` /
``raw-pipelined`` (redis.asyncio PUBLISH -> redis.asyncio subscriber, no Socket.IO; there A is
the publisher process and B the subscriber process, and a "delivery" is one message read).
For each scenario every implementation runs in turn (the order rotates between scenarios).

Metrics: delivered messages/s = deliveries / (last receive - first send); CPU microseconds per
broadcast on A and B from /proc/<pid>/stat utime+stime deltas over the measured window;
latency percentiles (receive wall time - the payload's send time); lost messages by seq.
The table goes to stdout, the JSON to bench/results/ (or --out).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
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
    rss_bytes,
)
from profile_summary import summarize

RAW_IMPLS = ("raw", "raw-pipelined")
ALL_IMPLS = (*SIO_IMPLS, *RAW_IMPLS)
ROOMS = [f"room-{i}" for i in range(10)]


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    count: int
    a_clients: int = 0
    b_clients: int = 0
    rate: float = 0.0  # broadcasts per second; 0 = back to back
    rooms: int = 0  # 0 = broadcast to everyone; else round robin over this many rooms
    payload_size: int = 100

    def describe(self) -> str:
        where = []
        if self.a_clients:
            where.append(f"{self.a_clients} clients on A")
        if self.b_clients:
            rooms = f" in {self.rooms} rooms" if self.rooms else ""
            where.append(f"{self.b_clients} client{'s' if self.b_clients > 1 else ''} on B{rooms}")
        pace = f"at {self.rate:g}/s" if self.rate else "back to back"
        to = ", each to one room" if self.rooms else ""
        return (
            f"{', '.join(where)}; {self.count:,} broadcasts {pace}{to}, "
            f"{self.payload_size} B payload"
        )


FULL = {
    "S1": Scenario("S1", "pipe", 20_000, b_clients=1),
    "S2": Scenario("S2", "fanout", 2_000, a_clients=100, b_clients=100),
    "S3": Scenario("S3", "latency", 1_000, b_clients=100, rate=200),
    "S4": Scenario("S4", "rooms", 5_000, b_clients=100, rooms=10),
}
FULL_MEM_CLIENTS = 100
# A profile wants more samples than a measurement: S1 100,000 broadcasts, S2 10,000 ...
PROFILE_COUNT_FACTOR = {"S1": 5, "S2": 5, "S3": 1, "S4": 5}
QUICK = {
    "S1": Scenario("S1", "pipe", 200, b_clients=1),
    "S2": Scenario("S2", "fanout", 30, a_clients=10, b_clients=10),
    "S3": Scenario("S3", "latency", 40, b_clients=10, rate=200),
    "S4": Scenario("S4", "rooms", 100, b_clients=20, rooms=10),
}
QUICK_MEM_CLIENTS = 10


# --- processes --------------------------------------------------------------------------


@dataclass
class Impl:
    name: str
    key: str
    a: Any  # Server, or LinePeer for raw
    b: Any


class Cluster:
    """redis-server, every implementation's A and B, and the load generator."""

    def __init__(self, args: argparse.Namespace, log_dir: Path) -> None:
        self.args = args
        self.harness = Harness(log_dir, loop=args.loop)
        self.impls: dict[str, Impl] = {}

    @property
    def loadgen(self) -> LinePeer | None:
        return self.harness.loadgen

    def start(self, names: list[str]) -> None:
        h = self.harness
        h.start_redis()
        servers: list[Server] = []
        for name in names:
            key = f"bench-{name.split('-')[0]}"
            if name in SIO_IMPLS:
                a, b = (h.spawn_server(name, f"{name}-{role}", key) for role in ("A", "B"))
                servers += [a, b]
            else:  # raw, raw-pipelined share one publisher and one subscriber process
                raw = next((i for i in self.impls.values() if i.name in RAW_IMPLS), None)
                if raw is not None:
                    a, b = raw.a, raw.b
                else:
                    a, b = (
                        LinePeer(
                            f"raw-{role}",
                            h.procs.spawn(
                                f"raw-{role}",
                                [sys.executable, str(BENCH / "raw.py"), "--role", role,
                                 "--redis", h.redis_url, "--key", key],
                                pipes=True,
                            ),
                        )
                        for role in ("pub", "sub")
                    )  # fmt: skip
                    a.wait_ready()
                    b.wait_ready()
            self.impls[name] = Impl(name, key, a, b)
        h.start_loadgen()
        h.wait_ready(servers)

    def clock_offset_ms(self) -> dict[str, float]:
        return self.harness.clock_offset_ms()

    def pids(self, impl: Impl) -> dict[str, int]:
        assert self.loadgen is not None and self.harness.redis_proc is not None
        return {
            "A": impl.a.pid,
            "B": impl.b.pid,
            "loadgen": self.loadgen.pid,
            "redis": self.harness.redis_proc.pid,
        }

    def stop(self) -> None:
        self.harness.stop()


# --- one measurement ----------------------------------------------------------------------


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {role: cpu_seconds(pid) for role, pid in pids.items()}


def finish_result(
    impl: str,
    sc: Scenario,
    round_no: int,
    counts: dict[str, Any],
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
    wall_s: float,
) -> dict[str, Any]:
    first_send, last_recv = counts.get("first_send"), counts.get("last_recv")
    span_s = (last_recv - first_send) / 1000 if first_send and last_recv else None
    received = counts["received"]
    cpu_s = {role: cpu_after[role] - cpu_before[role] for role in cpu_before}
    last_send = counts.get("last_send")
    return {
        "impl": impl,
        "scenario": sc.name,
        "label": sc.label,
        "round": round_no,
        "config": asdict(sc),
        "clients": counts["clients"],
        "expected": counts["expected"],
        "received": received,
        "lost": counts["lost"],
        "duplicates": counts["duplicates"],
        "unexpected": counts["unexpected"],
        "disconnects": counts["disconnects"],
        "timed_out": counts["timed_out"],
        "span_s": span_s,
        "send_s": (last_send - first_send) / 1000 if first_send and last_send else None,
        "window_s": wall_s,
        "delivered_per_s": received / span_s if span_s else None,
        "broadcasts_per_s": sc.count / span_s if span_s else None,
        "cpu_s": cpu_s,
        "cpu_us_per_broadcast": {role: s * 1e6 / sc.count for role, s in cpu_s.items()},
        "latency_ms": counts["latency_ms"],
    }


def run_sio(
    cluster: Cluster,
    impl: Impl,
    sc: Scenario,
    round_no: int,
    around: Any = None,
) -> dict[str, Any]:
    """Connect the scenario's clients, warm up, measure one emit loop, disconnect.

    ``around``, if given, is a context manager entered just before the measured window
    and left just after it (the profiler)."""
    lg = cluster.loadgen
    assert lg is not None
    rooms = ROOMS[: sc.rooms]
    groups = []
    tag = f"{impl.name}-{sc.name}-{round_no}"
    if sc.a_clients:
        lg.call("connect", group=f"{tag}-A", url=impl.a.url, n=sc.a_clients, timeout=60)
        groups.append(f"{tag}-A")
    if sc.b_clients:
        lg.call(
            "connect", group=f"{tag}-B", url=impl.b.url, n=sc.b_clients, rooms=rooms, timeout=60
        )
        groups.append(f"{tag}-B")
    try:
        lg.call("warm", control=impl.a.url, groups=groups, timeout_ms=15000, timeout=30)
        params = {
            "scenario": sc.name,
            "count": sc.count,
            "rate": sc.rate,
            "payload_size": sc.payload_size,
            "rooms": rooms,
        }
        pids = cluster.pids(impl)
        hard = cluster.args.hard_timeout
        with around if around is not None else contextlib.nullcontext():
            before = cpu_snapshot(pids)
            t0 = time.monotonic()
            counts = lg.call(
                "run",
                control=impl.a.url,
                groups=groups,
                params=params,
                idle_timeout_ms=cluster.args.idle_timeout * 1000,
                hard_timeout_ms=hard * 1000,
                timeout=hard + 30,
            )
            wall = time.monotonic() - t0
            after = cpu_snapshot(pids)
    finally:
        for group in groups:
            lg.call("disconnect", group=group, timeout=30)
    result = finish_result(impl.name, sc, round_no, counts, before, after, wall)
    if counts.get("ack_error"):
        result["ack_error"] = counts["ack_error"]
    return result


def run_raw(cluster: Cluster, impl: Impl, sc: Scenario, round_no: int) -> dict[str, Any]:
    pub, sub = impl.a, impl.b
    hard = cluster.args.hard_timeout
    sub.call(
        "arm",
        count=sc.count,
        idle_timeout_ms=cluster.args.idle_timeout * 1000,
        hard_timeout_ms=hard * 1000,
        timeout=10,
    )
    pids = cluster.pids(impl)
    before = cpu_snapshot(pids)
    t0 = time.monotonic()
    run_id = pub.send(
        "run",
        count=sc.count,
        rate=sc.rate,
        payload_size=sc.payload_size,
        rooms=ROOMS[: sc.rooms],
        pipelined=impl.name == "raw-pipelined",
    )
    collect_id = sub.send("collect")
    ack = pub.recv(run_id, hard + 30)
    counts = sub.recv(collect_id, hard + 30)
    wall = time.monotonic() - t0
    after = cpu_snapshot(pids)
    counts.update(first_send=ack["first_send"], last_send=ack["last_send"])
    return finish_result(impl.name, sc, round_no, counts, before, after, wall)


def measure_memory(cluster: Cluster, impl: Impl, n: int) -> dict[str, Any]:
    """RSS of B (fresh, no client yet) with ``n`` clients minus with none, per client."""
    lg = cluster.loadgen
    assert lg is not None
    time.sleep(0.3)
    rss0 = rss_bytes(impl.b.pid)
    group = f"{impl.name}-mem"
    lg.call("connect", group=group, url=impl.b.url, n=n, timeout=60)
    try:
        lg.call("warm", control=impl.a.url, groups=[group], timeout_ms=15000, timeout=30)
        time.sleep(0.5)
        rss_n = rss_bytes(impl.b.pid)
    finally:
        lg.call("disconnect", group=group, timeout=30)
    return {
        "impl": impl.name,
        "clients": n,
        "rss_0_bytes": rss0,
        "rss_n_bytes": rss_n,
        "per_client_kib": (rss_n - rss0) / n / 1024,
    }


# --- profiling ------------------------------------------------------------------------------


def py_spy_path() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def profile_run(cluster: Cluster, impl_name: str, sc: Scenario, out_dir: Path) -> dict[str, Any]:
    """py-spy record on A and B around the measured window of ``sc``; returns the
    measurement and each side's top functions by own time."""
    spy = py_spy_path()
    if spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    impl = cluster.impls[impl_name]
    rate = cluster.args.profile_rate
    paths = {role: out_dir / f"profile-{impl_name}-{sc.name}-{role}.txt" for role in ("A", "B")}

    @contextlib.contextmanager
    def recording() -> Any:
        spies = []
        for role, server in (("A", impl.a), ("B", impl.b)):
            with open(out_dir / f"py-spy-{impl_name}-{role}.log", "wb") as log:
                spies.append(
                    subprocess.Popen(
                        [
                            spy, "record", "--pid", str(server.pid), "--rate", str(rate),
                            "--format", "raw", "--output", str(paths[role]), "--full-filenames",
                        ],
                        stdout=log, stderr=log, start_new_session=True,
                    )
                )  # fmt: skip
        time.sleep(1.0)  # let py-spy attach: idle, so (almost) no samples
        try:
            yield
        finally:
            for proc in spies:
                proc.send_signal(signal.SIGINT)
            for proc in spies:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    result = run_sio(cluster, impl, sc, round_no=0, around=recording())
    summaries = {}
    for role, path in paths.items():
        summaries[role] = summarize(
            path.read_text(),
            top=cluster.args.profile_top,
            root=ROOT,
            rate=rate,
            count=sc.count,
            cpu_s=result["cpu_s"][role],
        )
        summaries[role]["file"] = str(path)
    return {
        "impl": impl_name,
        "scenario": sc.name,
        "count": sc.count,
        "measurement": result,
        "profiles": summaries,
    }


# --- report --------------------------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of each metric; losses are summed."""
    return {
        "rounds": len(runs),
        "delivered_per_s": median([r["delivered_per_s"] for r in runs]),
        "broadcasts_per_s": median([r["broadcasts_per_s"] for r in runs]),
        "cpu_us_A": median([r["cpu_us_per_broadcast"]["A"] for r in runs]),
        "cpu_us_B": median([r["cpu_us_per_broadcast"]["B"] for r in runs]),
        "cpu_us_loadgen": median([r["cpu_us_per_broadcast"]["loadgen"] for r in runs]),
        "cpu_us_redis": median([r["cpu_us_per_broadcast"]["redis"] for r in runs]),
        "p50_ms": median([r["latency_ms"]["p50"] for r in runs]),
        "p99_ms": median([r["latency_ms"]["p99"] for r in runs]),
        "lost": sum(r["lost"] for r in runs),
        "received": sum(r["received"] for r in runs),
        "expected": sum(r["expected"] for r in runs),
    }


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


COLUMNS = [
    ("deliv/s", "delivered_per_s", 0),
    ("bcast/s", "broadcasts_per_s", 0),
    ("A us/bc", "cpu_us_A", 1),
    ("B us/bc", "cpu_us_B", 1),
    ("p50 ms", "p50_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("lost", "lost", 0),
]


def render_table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    impls = report["impls"]
    width = max(14, *(len(i) for i in impls))
    header = f"{'':<{width}}" + "".join(f"{c[0]:>11}" for c in COLUMNS)
    for name, sc in report["scenarios"].items():
        lines.append(f"{name} {sc['label']}: {sc['description']}")
        lines.append(header)
        agg = report["summary"][name]
        for impl in impls:
            row = agg.get(impl)
            if row is None:
                continue
            cells = "".join(f"{fmt(row[key], d):>11}" for _, key, d in COLUMNS)
            lines.append(f"{impl:<{width}}{cells}")
        ours = agg.get("ours")
        for other in ("manager", "node"):
            if ours is None or other not in agg:
                continue
            cells = "".join(
                f"{'' if key == 'lost' else ratio(ours[key], agg[other][key]):>11}"
                for _, key, _d in COLUMNS
            )
            lines.append(f"{'ours/' + other:<{width}}{cells}")
        lines.append("")
    if report["memory"]:
        lines.append("mem: RSS of B with N clients minus with 0, per client (fresh B)")
        lines.append(f"{'':<{width}}{'N':>11}{'RSS0 MiB':>11}{'RSSN MiB':>11}{'KiB/client':>11}")
        for impl in impls:
            m = report["memory"].get(impl)
            if m is None:
                continue
            lines.append(
                f"{impl:<{width}}{m['clients']:>11}{m['rss_0_bytes'] / 2**20:>11.1f}"
                f"{m['rss_n_bytes'] / 2**20:>11.1f}{m['per_client_kib']:>11.1f}"
            )
        lines.append("")
    lines.append(
        "ratios are ours / other: above 1x is better for deliv/s and bcast/s, below 1x is "
        "better for CPU (us per broadcast) and latency."
    )
    lines.append(
        "raw, raw-pipelined: redis.asyncio publisher (A) -> one subscriber reader (B), no "
        "Socket.IO; a delivery is one message read."
    )
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="2-server Socket.IO cluster benchmark, implementations interleaved",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    ap.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    ap.add_argument("--impls", default=",".join(ALL_IMPLS), help="comma-separated subset")
    ap.add_argument("--scenarios", default="S1,S2,S3,S4,mem", help="comma-separated subset")
    ap.add_argument("--repeat", type=int, help="rounds, medians reported (default 3; --quick 1)")
    ap.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop of both Python implementations",
    )
    ap.add_argument("--out", type=Path, help="JSON path (default bench/results/bench-<time>.json)")
    ap.add_argument("--idle-timeout", type=float, help="s of silence before a run gives up")
    ap.add_argument("--hard-timeout", type=float, help="s before a run gives up regardless")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, run --profile-scenarios again for --profile-impls under py-spy record",
    )
    ap.add_argument("--profile-impls", default="ours", help="comma-separated, Python ones")
    ap.add_argument("--profile-scenarios", default="S1", help="comma-separated")
    ap.add_argument(
        "--profile-count",
        type=int,
        help="broadcasts while profiling (default: 5x the scenario's; S3 1x)",
    )
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--profile-top", type=int, default=15)
    ap.add_argument(
        "--count",
        action="append",
        default=[],
        metavar="SN=COUNT",
        help="override a scenario's broadcast count, e.g. --count S1=50000",
    )
    args = ap.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.idle_timeout is None:
        args.idle_timeout = 2.0 if args.quick else 5.0
    if args.hard_timeout is None:
        args.hard_timeout = 20.0 if args.quick else 180.0
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            ap.error("--loop uvloop: uvloop is not installed in this venv")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    loadavg_start = Path("/proc/loadavg").read_text().strip()
    impls = [i for i in args.impls.split(",") if i]
    for name in impls:
        if name not in ALL_IMPLS:
            raise SystemExit(f"unknown implementation {name!r}; choose from {ALL_IMPLS}")
    table = dict(QUICK if args.quick else FULL)
    for override in args.count:
        name, _, value = override.partition("=")
        table[name] = replace(table[name], count=int(value))
    wanted = [s for s in args.scenarios.split(",") if s]
    scenarios = [table[s] for s in wanted if s in table]
    with_memory = "mem" in wanted
    mem_clients = QUICK_MEM_CLIENTS if args.quick else FULL_MEM_CLIENTS

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or BENCH / "results" / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / f"{out.stem}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    cluster = Cluster(args, log_dir)
    runs: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    profile: list[dict[str, Any]] = []
    clock: dict[str, float] = {}
    # Stop the children on SIGTERM/SIGHUP as on Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"bench: starting redis-server and {', '.join(impls)} ...", file=sys.stderr)
        cluster.start(impls)
        clock = cluster.clock_offset_ms()
        sio_impls = [i for i in impls if i in SIO_IMPLS]
        if with_memory:
            for name in sio_impls:
                memory[name] = measure_memory(cluster, cluster.impls[name], mem_clients)
                print(f"bench: mem {name}: {memory[name]['per_client_kib']:.1f} KiB/client",
                      file=sys.stderr)  # fmt: skip
        for round_no in range(args.repeat):
            for k, sc in enumerate(scenarios):
                shift = (k + round_no) % len(impls)
                for name in impls[shift:] + impls[:shift]:
                    impl = cluster.impls[name]
                    runner = run_raw if name in RAW_IMPLS else run_sio
                    result = runner(cluster, impl, sc, round_no)
                    runs.append(result)
                    print(
                        f"bench: {sc.name} {name:<14} {fmt(result['delivered_per_s']):>10} deliv/s"
                        f"  A {fmt(result['cpu_us_per_broadcast']['A'], 1):>7} us/bc"
                        f"  B {fmt(result['cpu_us_per_broadcast']['B'], 1):>7} us/bc"
                        f"  lost {result['lost']}",
                        file=sys.stderr,
                    )
                    time.sleep(0.3)  # let the servers settle the disconnects
        if args.profile:
            for sc_name in [s for s in args.profile_scenarios.split(",") if s]:
                count = args.profile_count or table[sc_name].count * (
                    1 if args.quick else PROFILE_COUNT_FACTOR.get(sc_name, 1)
                )
                sc = replace(table[sc_name], count=count)
                for name in [i for i in args.profile_impls.split(",") if i]:
                    print(f"bench: profiling {name} under {sc_name} ({count:,} broadcasts)",
                          file=sys.stderr)  # fmt: skip
                    profile.append(profile_run(cluster, name, sc, log_dir))
    finally:
        cluster.stop()

    summary: dict[str, dict[str, Any]] = {}
    for sc in scenarios:
        summary[sc.name] = {}
        for name in impls:
            mine = [r for r in runs if r["scenario"] == sc.name and r["impl"] == name]
            if mine:
                summary[sc.name][name] = aggregate(mine)
    report = {
        "started": stamp,
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "impls": impls,
        "scenarios": {sc.name: {**asdict(sc), "description": sc.describe()} for sc in scenarios},
        "summary": summary,
        "memory": memory,
        "runs": runs,
        "profile": profile,
        "environment": {**environment(args.loop, loadavg_start), "clock": clock},
        "duration_s": None,
    }
    report["environment"]["loadavg_end"] = Path("/proc/loadavg").read_text().strip()
    report["duration_s"] = round(time.monotonic() - started, 1)
    out.write_text(json.dumps(report, indent=2))
    latest = out.parent / "latest.json"
    if args.out is None:
        shutil.copyfile(out, latest)
    print(render_table(report))
    for prof in profile:
        for role, summ in prof["profiles"].items():
            print()
            print(
                f"profile {prof['impl']} {role} under {prof['scenario']} "
                f"({prof['count']:,} broadcasts, {summ['samples']} samples):"
            )
            print(summ["text"])
    env = report["environment"]
    print()
    print(f"loadavg at start: {env['loadavg_start']}   at end: {env['loadavg_end']}")
    print(
        f"loadgen clock - Python clock: {env['clock']['offset_ms']:+.3f} ms "
        f"(measured over a {env['clock']['rtt_ms']:.3f} ms round trip)"
    )
    print(f"total run time: {report['duration_s']} s   JSON: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
