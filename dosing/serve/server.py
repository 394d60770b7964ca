"""``dosing serve``: the patients' calendar feeds over HTTP (starlette on uvicorn).

Only ``/<token>.ics`` is answered, where the name matches :data:`dosing.serve.feeds.FEED_NAME`
(20 or more of ``A-Z a-z 0-9 _ -``) and the file lies directly in the feeds folder: no other
file, no directory listing, no path outside the folder. Every other request, and every token
without a feed, gets the same ``404`` body, so a response never tells whether a patient
exists. Feeds are sent as ``text/calendar; charset=utf-8`` with an ``ETag`` (a hash of the
content) and ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since`` give ``304``. The
request log names a feed only by a short hash of its token (``feed#1a2b3c4d5e6f``), never
the token itself; uvicorn's own access log (which would show tokens) is switched off.

Slow and idle clients are cut off and the number of connections is capped (see
:mod:`dosing.serve.guard`). A feed is read whole from one open file, so a ``generate`` that
swaps the study folder meanwhile gives the old feed or the new one, never a mix; a request
that falls between the swap's two renames waits for the new folder (up to
:data:`SWAP_WAIT_S`) rather than answering ``404``.

Install with ``pip install 'dosing[serve]'``.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import OutputError
from .feeds import FEED_NAME
from .guard import Limits

LOG = logging.getLogger("dosing.serve.server")
NOT_FOUND = "Not found\n"
BUSY = "Busy, try again\n"
CALENDAR_TYPE = "text/calendar; charset=utf-8"
SECURITY_HEADERS = {
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: how long a request waits for the feeds folder while a ``generate`` swaps it into place
SWAP_WAIT_S = 2.0


def feeds_folder(folder: str | Path) -> Path:
    """``DIR/feeds`` when DIR is a study output folder, or DIR itself when it is a feeds folder.
    Symbolic links are kept (not resolved), so a link swapped to new outputs is followed."""
    path = Path(os.path.abspath(Path(folder).expanduser()))
    if (path / "feeds").is_dir():
        return path / "feeds"
    if path.name == "feeds" and path.is_dir():
        return path
    raise OutputError(
        "no feeds folder here", source=str(path), hint="give the study output folder, e.g. output/nct02467504"
    )


@dataclass(frozen=True)
class _Feed:
    stamp: tuple[int, int, int]
    body: bytes
    etag: str
    last_modified: str
    modified: int


def create_app(folder: str | Path) -> ASGIApp:
    """The ASGI application serving the feeds in ``folder`` (see :func:`feeds_folder`)."""
    root = feeds_folder(folder)
    cache: dict[str, _Feed] = {}

    async def feed(request: Request) -> Response:
        name = str(request.path_params["name"])
        try:
            found = await _settled_load(root, name, cache) if FEED_NAME.fullmatch(name) else None
        except _Busy:
            return PlainTextResponse(BUSY, status_code=503, headers={**SECURITY_HEADERS, "Retry-After": "1"})
        if found is None:
            return _not_found()
        headers = {"ETag": found.etag, "Last-Modified": found.last_modified, **SECURITY_HEADERS}
        if _not_modified(request, found):
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=CALENDAR_TYPE, headers=headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _not_found()

    app = Starlette(
        routes=[Route("/{name}", feed, methods=["GET", "HEAD"])],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.router.redirect_slashes = False  # "/x/" is a 404, not a redirect to "/x"
    return RedactedLog(app)


def _not_found() -> Response:
    return PlainTextResponse(NOT_FOUND, status_code=404, headers=SECURITY_HEADERS)


async def _settled_load(root: Path, name: str, cache: dict[str, _Feed]) -> _Feed | None:
    """:func:`_load`, waiting while the feeds folder is missing (between a swap's two renames)."""
    waited = 0.0
    while True:
        found = _load(root, name, cache)
        if found is not None or waited >= SWAP_WAIT_S or root.is_dir():
            return found
        await asyncio.sleep(0.01)
        waited += 0.01


class _Busy(Exception):
    """No file could be opened (the process is out of descriptors): ``503``, not a ``404`` that would
    tell a calendar app that its feed is gone."""


def _load(root: Path, name: str, cache: dict[str, _Feed]) -> _Feed | None:
    """The feed, read whole from one open file (its stamp from that same file, not from the path)."""
    try:
        with open(root / name, "rb") as file:
            info = os.fstat(file.fileno())
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            known = cache.get(name)
            if known is not None and known.stamp == stamp:
                return known
            body = file.read()
    except OSError as err:
        if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
            raise _Busy from None
        return None
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    modified = int(info.st_mtime)
    fresh = _Feed(stamp, body, etag, email.utils.formatdate(modified, usegmt=True), modified)
    cache[name] = fresh
    return fresh


def _not_modified(request: Request, found: _Feed) -> bool:
    tags = request.headers.get("if-none-match")
    if tags is not None:
        return found.etag in [t.strip().removeprefix("W/") for t in tags.split(",")] or tags.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return found.modified <= int(when.timestamp())


def redact(path: str) -> str:
    """A request path as the log shows it: tokens replaced by a short hash."""
    name = path.lstrip("/")
    if FEED_NAME.fullmatch(name):
        return "/feed#" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return "/other#" + hashlib.sha256(path.encode()).hexdigest()[:12]


class RedactedLog:
    """ASGI middleware: one log line per request, with the path redacted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                LOG.info("%s %s %d %.1fms", scope["method"], redact(scope["path"]), message["status"], elapsed)
            await send(message)

        await self.app(scope, receive, record)


def check_address(host: str, port: int) -> None:
    """Raise :class:`OutputError` unless ``host:port`` can be listened on (bound as uvicorn binds it,
    with ``SO_REUSEADDR``), so that a busy port or an unknown host is a plain error, not uvicorn's exit."""
    where = f"{host}:{port}"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise OutputError(
            f"cannot listen on {where} (unknown host: {err.strerror})",
            hint="give --host an address of this machine, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all)",
        ) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as err:
                hint = _BIND_HINTS.get(err.errno or 0)
                raise OutputError(f"cannot listen on {where} ({_why(err)})", hint=hint) from None


_BIND_HINTS = {
    errno.EADDRINUSE: "another program (or another dosing serve) uses this port: stop it, or choose another --port",
    errno.EACCES: "ports below 1024 need administrator rights: choose --port 1024 or above (e.g. 8080)",
    errno.EADDRNOTAVAIL: "give --host an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
}


def _why(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


def serve(
    folder: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_listening: Callable[[str], None] | None = None,
    limits: Limits | None = None,
    **options: Any,
) -> None:
    """Serve the feeds until interrupted (uvicorn; its access log is off, ours is redacted).
    ``on_listening`` is called with the base URL once the address is known to be free;
    ``limits`` are the timeouts and connection limit (:class:`dosing.serve.guard.Limits`)."""
    import uvicorn

    app = create_app(folder)
    check_address(host, port)
    if on_listening is not None:
        on_listening(f"http://{host}:{port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = {**(limits or Limits()).uvicorn_options(), **options}
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False, **settings)
