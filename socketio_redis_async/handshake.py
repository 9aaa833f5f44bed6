"""Node's ``socket.handshake`` built from the WSGI-style environ python-engineio keeps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["build_handshake", "js_date_string"]


def js_date_string(epoch_seconds: float) -> str:
    """JavaScript's ``String(new Date())`` for a process running in UTC."""
    return time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(epoch_seconds)
    )


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].lower().replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.lower().replace("_", "-")] = environ[key]
    return headers


def _address(environ: Mapping[str, Any]) -> str:
    """The peer address: python-engineio's ASGI environ hard-codes REMOTE_ADDR."""
    scope = environ.get("asgi.scope")
    if isinstance(scope, Mapping) and scope.get("client"):
        return str(scope["client"][0])
    request = environ.get("aiohttp.request")
    if request is not None and getattr(request, "remote", None):
        return str(request.remote)
    return str(environ.get("REMOTE_ADDR", ""))


def _query(query_string: str) -> dict[str, str | list[str]]:
    """Node's querystring: a repeated key becomes an array, a single one a string."""
    return {
        key: values[0] if len(values) == 1 else values
        for key, values in parse_qs(query_string, keep_blank_values=True).items()
    }


def build_handshake(environ: Mapping[str, Any], connected_at: float) -> dict[str, Any]:
    """Only whitelisted, JSON-safe fields: the environ also holds callables and streams."""
    query_string = str(environ.get("QUERY_STRING", ""))
    url = environ.get("RAW_URI") or (
        str(environ.get("PATH_INFO", "")) + ("?" + query_string if query_string else "")
    )
    return {
        "headers": _headers(environ),
        "time": js_date_string(connected_at),
        "address": _address(environ),
        "xdomain": "HTTP_ORIGIN" in environ,
        "secure": environ.get("wsgi.url_scheme") in ("https", "wss"),
        "issued": int(connected_at * 1000),
        "url": str(url),
        "query": _query(query_string),
        "auth": {},
    }
