"""Connection limits and timeouts for ``dosing serve``: slow or idle clients cannot starve the others.

uvicorn closes a keep-alive connection that stays silent after a response, but it has no timeout
for a request that is being sent (a client that sends half a request head, or one byte every few
seconds, holds its connection and file descriptor for ever) and none for a connection that never
sends a byte. :class:`GuardedH11Protocol`, uvicorn's h11 protocol with one deadline always armed,
adds them:

- **request**: a whole request head must arrive within ``request_s`` of the connection opening or
  of the previous response (an absolute deadline: trickling bytes does not extend it);
- **idle**: a connection that sends nothing is closed after ``idle_s`` (uvicorn's keep-alive
  timeout, armed from the first moment, not only after a response);
- **response**: a client must take its response within ``response_s`` of its request;
- **head size**: a request head (request line and headers) longer than ``max_head_bytes`` gets
  ``431`` and the connection is closed, whether it arrives in pieces or whole in one packet (h11's
  ``max_incomplete_event_size`` alone limits only a head still incomplete);
- **connections**: at most ``max_connections`` open at once. A new connection beyond it closes the
  connection that has waited longest for a request (if it has waited ``grace_s`` or more: a real
  client sends its request at once), or is refused with ``503`` if every connection is busy.

An expired connection is aborted (closed without flushing), so its descriptor is freed at once.
"""

from __future__ import annotations

import asyncio
import re
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: descriptors kept free for the listening socket, the event loop, logging and the feed files read
FD_RESERVE = 32
#: the most connections by default, however many descriptors the process may open
MAX_CONNECTIONS = 4096
#: how long a refused connection is kept so that the client can read its ``503``
REFUSED_LINGER_S = 1.0
TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#: the blank line that ends a request head (h11 accepts bare ``\n`` line ends too)
_HEAD_END = re.compile(rb"\n\r?\n")
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


def default_max_connections() -> int:
    """:data:`MAX_CONNECTIONS`, or fewer when the process may open fewer descriptors (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(4, min(MAX_CONNECTIONS, soft - FD_RESERVE))


@dataclass(frozen=True)
class Limits:
    """The server's timeouts (seconds) and connection limit; README "Serving the feeds" lists them."""

    request_s: float = 10.0
    idle_s: int = 5
    response_s: float = 30.0
    grace_s: float = 1.0
    max_connections: int | None = None  # None: :func:`default_max_connections`
    max_head_bytes: int = 16 * 1024

    def connections(self) -> int:
        return self.max_connections if self.max_connections is not None else default_max_connections()

    def uvicorn_options(self) -> dict[str, Any]:
        """Options for ``uvicorn.Config`` / ``uvicorn.run`` that apply these limits."""
        return {
            "http": guarded(self),
            "timeout_keep_alive": self.idle_s,
            "h11_max_incomplete_event_size": self.max_head_bytes,
            "ws": "none",  # no WebSocket upgrades: only feeds are served
        }


def guarded(limits: Limits) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` class bound to ``limits`` (uvicorn takes a protocol class)."""
    resolved = Limits(**{**limits.__dict__, "max_connections": limits.connections()})
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": resolved})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request deadline, an idle timeout and a connection limit."""

    limits: ClassVar[Limits] = Limits(max_connections=MAX_CONNECTIONS)
    _deadline: asyncio.TimerHandle | None = None
    _waiting_since: float | None = None
    _request_at = 0.0
    _seen: object = None
    _too_large = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if not self._make_room():
            return
        self._await_request(self.limits.request_s)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._waiting_since = None
        super().connection_lost(exc)

    def handle_events(self) -> None:
        if self._head_too_long():
            return
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._seen:  # a request head has arrived
            self._seen = self.cycle
            self._waiting_since = None
            self._request_at = self.loop.time()
            self._arm(self.limits.response_s)

    def _head_too_long(self) -> bool:
        """Answer ``431`` and close when the request head waiting in the buffer is over the limit."""
        if self._too_large:
            return True
        if self.conn.their_state is not h11.IDLE:  # a request is being handled: no head to check
            return False
        buffered, _ = self.conn.trailing_data
        limit = self.limits.max_head_bytes
        if len(buffered) <= limit or _HEAD_END.search(buffered, 0, limit):
            return False
        self._too_large = True
        self._disarm()
        self.transport.write(TOO_LARGE)
        self.transport.write_eof()  # the client reads the 431 and the end (closing now could reset it)
        self._deadline = self.loop.call_later(REFUSED_LINGER_S, self.transport.abort)
        return True

    def data_received(self, data: bytes) -> None:
        if not self._too_large:  # after a 431, the rest of the head is read and dropped until the abort
            super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request (see handle_events)
        if self.transport.is_closing() or not self.cycle.response_complete:
            return
        left = self.limits.request_s
        if self.transport.get_write_buffer_size():  # the client is still taking the response
            left = max(left, self._request_at + self.limits.response_s - self.loop.time())
        self._await_request(left)

    def _await_request(self, seconds: float) -> None:
        self._waiting_since = self.loop.time()
        self._arm(seconds)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self.expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def expire(self) -> None:
        """Drop the connection now, unsent data and all (frees its descriptor)."""
        self._deadline = None
        self._waiting_since = None
        self.transport.abort()

    def _make_room(self) -> bool:
        """Keep at most ``max_connections``: close the longest-waiting idle one, or refuse this one."""
        if len(self.connections) <= self.limits.connections():
            return True
        now = self.loop.time()
        waiting = [
            (c._waiting_since, id(c), c)
            for c in self.connections
            if isinstance(c, GuardedH11Protocol)
            and c._waiting_since is not None
            and now - c._waiting_since >= self.limits.grace_s
        ]
        if waiting:
            min(waiting)[2].expire()
            return True
        self.connections.discard(self)
        self.transport.pause_reading()  # its request is never read, nor handled
        self.transport.write(REFUSED)
        self.transport.write_eof()  # the client reads the 503 and the end, then we drop it
        self._deadline = self.loop.call_later(REFUSED_LINGER_S, self.transport.abort)
        return False
