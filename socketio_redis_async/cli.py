"""``socketio-redis-async``: watch, poke and inspect a Socket.IO cluster from the shell.

``monitor`` prints every adapter message on the wire, ``emit`` sends one event with the
package's :class:`~socketio_redis_async.Emitter`, ``status`` lists the servers of each
namespace and their rooms. None of them counts as a server (see :mod:`.monitor` and
:mod:`.status` for how). Exit codes: 0 done, 1 ``status`` saw servers that did not answer,
2 a usage error or Redis could not be used (the message says what to fix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import redis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import __version__
from .emitter import Emitter
from .monitor import classic_patterns, monitor_classic, monitor_sharded
from .options import DEFAULT_URL, is_sentinel_url, parse_url_argument, redacted, resolve_parser
from .sharded_transport import Address
from .status import classic_status, render_status, sharded_status
from .transport import describe
from .wire_format import WireMessage, render_json, render_text

__all__ = ["build_parser", "main", "parse_json_argument"]

PROG = "socketio-redis-async"

_DESCRIPTION = """\
Tools for a Socket.IO cluster that shares Redis through socketio-redis-async or the Node.js
@socket.io/redis-adapter (classic or sharded) and @socket.io/redis-emitter.

URL is a Redis URL (redis://[[user]:password@]host[:port][/db], rediss:// for TLS) or
host:port. Run "%(prog)s COMMAND --help" for a command's options.
"""

_MONITOR_HELP = """\
Print every adapter message on the wire: time, channel, sender uid ("emitter" for an
emitter, "(no uid)" for an emitter's join/leave/disconnect), type (broadcast, ALL_ROOMS,
REMOTE_JOIN, FETCH_SOCKETS, ...), namespace, rooms/except, event and arguments.

The monitor is invisible to the servers: classic servers count the subscribers of
key-request#nsp# (PUBSUB NUMSUB) to know how many answers to wait for, and the monitor only
uses pattern subscriptions, which are not counted. Sharded servers count SSUBSCRIBE
subscribers (PUBSUB SHARDNUMSUB) and Redis has no sharded patterns, so with --sharded the
monitor runs the MONITOR command on every master of the cluster (or on the one Redis 7) and
shows the SPUBLISH commands it sees. MONITOR costs Redis throughput (every command is
formatted and copied to the monitor) while it runs: use it for debugging, not for days.
"""

_EMIT_HELP = """\
Send EVENT to the clients of the cluster, like io.to(...).emit(EVENT, ...) on a server.
Each JSON is one argument (so '[1,2]' is one array argument; give several JSON values for
several arguments, none for an event without arguments). Strings need their JSON quotes:
'"hello"'. {"$bin": "<hex>"} is sent as binary (a Buffer in Node, bytes in Python), the way
"monitor --json" prints binary. Rooms are strings.
"""

_STATUS_HELP = """\
Show, per namespace, how many servers the cluster has (the count the servers themselves use:
PUBSUB NUMSUB key-request#nsp#, or SHARDNUMSUB prefix#nsp# with --sharded), which server
uids are there, and the rooms (asked with ALL_ROOMS, or FETCH_SOCKETS with --sharded).
Socket ids are counted as "sockets" instead of listed. Classic answers carry no uid, so
rooms are shown for the whole namespace; sharded answers are shown per server. The status
command does not count as a server. Exit code 1 if some server did not answer in time.
"""

_EXAMPLES = """\
examples:
  %(prog)s monitor redis://localhost:6379 --namespace /chat
  %(prog)s monitor redis://:secret@redis:6379 --sharded --json --count 100
  %(prog)s emit localhost:6379 news '{"title": "hi"}' 42 --to room1 --except banned
  %(prog)s status redis://localhost:6379 --namespace / --namespace /admin
"""


class CliError(Exception):
    """A problem the user can fix; the message says how."""


def parse_json_argument(text: str, position: int) -> Any:
    """One JSON value from the command line; ``{"$bin": hex}`` becomes bytes."""

    def binary(obj: dict[str, Any]) -> Any:
        if obj.keys() == {"$bin"} and isinstance(obj["$bin"], str):
            try:
                return bytes.fromhex(obj["$bin"])
            except ValueError:
                raise CliError(
                    f"JSON argument {position} ({text!r}): $bin must be hexadecimal digits"
                ) from None
        return obj

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, object_hook=binary, parse_constant=reject)
    except json.JSONDecodeError as exc:
        hint = " (strings need quotes, e.g. '\"hello\"')" if text[:1].isalpha() else ""
        raise CliError(
            f"JSON argument {position} ({text!r}) is not valid JSON: {exc.msg} at column "
            f"{exc.colno}{hint}"
        ) from None
    except ValueError as exc:
        raise CliError(f"JSON argument {position} ({text!r}): {exc}") from None


def _url(text: str) -> str:
    if is_sentinel_url(text):
        raise CliError(
            f"{redacted(text)}: Sentinel URLs are not supported here; give the master's "
            "redis:// URL (redis-cli -p 26379 SENTINEL get-master-addr-by-name <service>)"
        )
    try:
        return parse_url_argument(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _use_colour(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its error message
    return convert


def _add_common(sub: argparse.ArgumentParser, *, namespaces_help: str) -> None:
    sub.add_argument(
        "--key",
        default="socket.io",
        metavar="K",
        help="the adapters' key (Node: key; sharded: channelPrefix) (default: %(default)s)",
    )
    sub.add_argument(
        "--sharded",
        action="store_true",
        help="the sharded protocol (createShardedAdapter, AsyncShardedRedisAdapter)",
    )
    sub.add_argument("--namespace", action="append", default=[], metavar="NS", help=namespaces_help)


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, description=_DESCRIPTION, epilog=_EXAMPLES, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    monitor = commands.add_parser(
        "monitor",
        help="print every adapter message on the wire",
        description=_MONITOR_HELP,
        formatter_class=formatter,
    )
    monitor.add_argument(
        "url", nargs="?", default=DEFAULT_URL, metavar="URL", help="(default: %(default)s)"
    )
    _add_common(monitor, namespaces_help="only this namespace (repeatable; default: all)")
    monitor.add_argument("--json", action="store_true", help="one JSON object per message")
    monitor.add_argument("--count", type=_positive(int), metavar="N", help="stop after N messages")
    monitor.add_argument(
        "--duration", type=_positive(float), metavar="S", help="stop after S seconds"
    )
    monitor.add_argument(
        "--width",
        type=int,
        default=160,
        metavar="W",
        help="cut the arguments after W characters, 0 never (default: %(default)s)",
    )
    monitor.add_argument(
        "--parser",
        choices=("msgpack", "json"),
        default="msgpack",
        help="the classic adapters' parser (default: %(default)s)",
    )
    monitor.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="ANSI colours (default: when stdout is a terminal and NO_COLOR is unset)",
    )
    monitor.set_defaults(run=_run_monitor)

    emit = commands.add_parser(
        "emit",
        help="send one event to the clients",
        description=_EMIT_HELP,
        formatter_class=formatter,
    )
    emit.add_argument("url", metavar="URL")
    emit.add_argument("event", metavar="EVENT")
    emit.add_argument("json", nargs="*", metavar="JSON", help="one argument each")
    emit.add_argument(
        "--to", action="append", default=[], metavar="ROOM", help="only this room (repeatable)"
    )
    emit.add_argument(
        "--except",
        dest="except_rooms",
        action="append",
        default=[],
        metavar="ROOM",
        help="not to this room (repeatable)",
    )
    emit.add_argument("--namespace", default="/", metavar="NS", help="(default: %(default)s)")
    emit.add_argument(
        "--key",
        default="socket.io",
        metavar="K",
        help="the adapters' key (sharded: channelPrefix) (default: %(default)s)",
    )
    emit.add_argument("--sharded", action="store_true", help="the sharded protocol (SPUBLISH)")
    emit.add_argument(
        "--mode",
        choices=("static", "dynamic", "dynamic-private"),
        default="dynamic",
        help="the sharded servers' subscriptionMode, which picks the channel "
        "(default: %(default)s)",
    )
    emit.set_defaults(run=_run_emit)

    status = commands.add_parser(
        "status",
        help="servers per namespace and the rooms",
        description=_STATUS_HELP,
        formatter_class=formatter,
    )
    status.add_argument("url", metavar="URL")
    _add_common(
        status,
        namespaces_help="this namespace (repeatable; default: every namespace with a server)",
    )
    status.add_argument(
        "--timeout",
        type=_positive(float),
        default=5.0,
        metavar="S",
        help="wait this long for answers (default: %(default)s)",
    )
    status.add_argument("--json", action="store_true", help="the report as one JSON object")
    status.add_argument(
        "--parser",
        choices=("msgpack", "json"),
        default="msgpack",
        help="the classic adapters' parser (default: %(default)s)",
    )
    status.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="ANSI colours"
    )
    status.set_defaults(run=_run_status)
    return parser


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # a pipe reader (grep, a test) sees each message when it happens


def _run_monitor(args: argparse.Namespace) -> int:
    url = _url(args.url)
    colour = _use_colour(args.color, sys.stdout)

    def show(message: WireMessage) -> None:
        if args.json:
            _print(render_json(message))
        else:
            _print(render_text(message, colour=colour, width=args.width))

    where = redacted(url)
    if args.sharded:

        def ready_sharded(masters: list[Address]) -> None:
            nodes = ", ".join(f"{host}:{port}" for host, port in masters)
            _note(
                f"monitoring sharded traffic under {args.key!r} with MONITOR on "
                f"{len(masters)} master(s): {nodes} (MONITOR slows Redis down; Ctrl-C to stop)"
            )

        run = monitor_sharded(
            url,
            key=args.key,
            namespaces=args.namespace,
            on_message=show,
            on_ready=ready_sharded,
            count=args.count,
            duration=args.duration,
        )
    else:
        patterns = " ".join(classic_patterns(args.key, args.namespace))

        def ready_classic() -> None:
            _note(f"monitoring {where} (PSUBSCRIBE {patterns}; Ctrl-C to stop)")

        run = monitor_classic(
            url,
            key=args.key,
            namespaces=args.namespace,
            parser=resolve_parser(args.parser),
            on_message=show,
            on_ready=ready_classic,
            count=args.count,
            duration=args.duration,
        )
    asyncio.run(run)
    return 0


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _run_emit(args: argparse.Namespace) -> int:
    url = _url(args.url)
    values = [parse_json_argument(text, i) for i, text in enumerate(args.json, 1)]
    client: redis.Redis | None = None
    if args.sharded:
        client = redis.Redis.from_url(url)
        if client.info("cluster").get("cluster_enabled"):
            client.close()
            client = None
            emitter = Emitter(url, key=args.key, sharded=True, subscription_mode=args.mode)
        else:  # one Redis 7 outside a cluster
            emitter = Emitter(
                client=client, key=args.key, sharded=True, subscription_mode=args.mode
            )
    else:
        emitter = Emitter(url, key=args.key)
    try:
        target = emitter.of(args.namespace)
        if args.to:
            target = target.to(args.to)
        if args.except_rooms:
            target = target.except_(args.except_rooms)
        try:
            target.emit(args.event, *values)
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc)) from None
    finally:
        emitter.close()
        if client is not None:
            client.close()
    scope = f"namespace {target.namespace}"
    if args.to:
        scope += f", rooms {', '.join(args.to)}"
    if args.except_rooms:
        scope += f", except {', '.join(args.except_rooms)}"
    _note(f"sent {args.event!r} with {len(values)} argument(s) to {scope} via {redacted(url)}")
    return 0


def _run_status(args: argparse.Namespace) -> int:
    url = _url(args.url)
    if args.sharded:
        run = sharded_status(url, key=args.key, namespaces=args.namespace, timeout=args.timeout)
    else:
        run = classic_status(
            url,
            key=args.key,
            namespaces=args.namespace,
            parser=resolve_parser(args.parser),
            timeout=args.timeout,
        )
    statuses = asyncio.run(run)
    protocol = "sharded" if args.sharded else "classic"
    if args.json:
        report = {
            "url": redacted(url),
            "protocol": protocol,
            "key": args.key,
            "namespaces": [s.to_json() for s in statuses],
        }
        _print(json.dumps(report))
    else:
        _note(f"{redacted(url)}, {protocol} protocol, key {args.key!r}")
        colour = _use_colour(args.color, sys.stdout)
        _print(render_status(statuses, protocol=protocol, colour=colour))
    return 0 if all(s.answered == s.servers for s in statuses) else 1


def _fail(text: str) -> int:
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        where = redacted(parse_url_argument(args.url))
    except ValueError:
        where = redacted(args.url)
    try:
        code: int = args.run(args)
    except CliError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a monitor without --count/--duration ends
    except BrokenPipeError:
        # the reader went away (monitor | head): stop quietly, without a second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except AuthenticationError as exc:
        return _fail(f"Redis at {where} refused the credentials ({describe(exc)}); check the URL")
    except (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError) as exc:
        return _fail(
            f"cannot reach Redis at {where}: {describe(exc)} (is the server running and is "
            "the URL right?)"
        )
    except ResponseError as exc:
        return _fail(
            f"Redis at {where} refused a command: {describe(exc)} (an ACL user needs the "
            "pubsub, publish/spublish, cluster and monitor commands this tool uses)"
        )
    return code
