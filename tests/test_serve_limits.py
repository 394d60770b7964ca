"""``dosing serve`` under hostile clients: idle and half-sent connections, clients that do not read,
too many connections, a process with 64 descriptors, and a load test while the feeds are regenerated.
Every client is on loopback; every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="dosing serve needs the `serve` extra (starlette, uvicorn)")
uvicorn = pytest.importorskip("uvicorn")

from conftest import FIXTURES, PROTOCOLS  # noqa: E402

import dosing  # noqa: E402
from dosing.serve.guard import Limits  # noqa: E402
from dosing.serve.server import create_app  # noqa: E402

SHORT = Limits(request_s=1.0, idle_s=1, response_s=1.0, grace_s=0.3)
HALF = b"GET /feeds.csv HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: the head never ends


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    root = tmp_path_factory.mktemp("limits")
    return dosing.generate(protocol, cohort, root / "out", key_file=root / "secret" / "feed.key").folder


class Running:
    """A uvicorn server in a thread on 127.0.0.1 and a free port."""

    def __init__(self, app: Any, limits: Limits | None) -> None:
        options = limits.uvicorn_options() if limits is not None else {"timeout_keep_alive": 1}
        config = uvicorn.Config(app, host="127.0.0.1", port=0, access_log=False, log_level="critical", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])

    def connections(self) -> int:
        return len(self.server.server_state.connections)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def guarded(study: Path) -> Iterator[Running]:
    running = Running(create_app(study), SHORT)
    yield running
    running.stop()


def feed_paths(study: Path) -> dict[str, str]:
    lines = (study / "feeds.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    return {line.split(",")[0]: "/" + line.split(",")[1].rsplit("/", 1)[1] for line in lines}


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (reads and discards), or None if it stayed open."""
    started = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET on its own connection: (status, body), or (0, b"") if no whole answer came."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return parse(receive_all(sock))


def receive_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        return b""
    return b"".join(chunks)


def parse(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head:
        return 0, b""
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    if len(lengths) != 1 or int(lengths[0].split(b":")[1]) != len(body):
        return -1, body  # torn: the body is not the length announced
    return int(head.split()[1]), body


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(guarded: Running) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        waited = closed_within(sock, 5)
    assert waited is not None and 0.8 < waited < 4  # idle_s is 1 s; slack for a busy machine


def test_a_request_head_trickled_byte_by_byte_is_cut_at_the_request_deadline(guarded: Running) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        started = time.monotonic()
        sock.sendall(HALF)
        try:
            for _ in range(25):  # a header byte every 0.2 s: each one would reset an idle timer
                time.sleep(0.2)
                sock.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            pass
        waited = closed_within(sock, 1.0)
        assert waited is not None
        assert time.monotonic() - started < 4  # request_s is 1 s; the trickle alone would last 5 s


def test_a_client_that_does_not_take_its_response_is_dropped() -> None:
    body = b"x" * (32 << 20)  # far more than the socket buffers hold

    async def big(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    running = Running(big, SHORT)
    try:
        with socket.create_connection(("127.0.0.1", running.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            deadline = time.monotonic() + 6
            while running.connections() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # until the server has the connection
            assert running.connections() == 1
            time.sleep(0.5)
            assert running.connections() == 1  # still sending
            while running.connections() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert running.connections() == 0  # response_s is 1 s
    finally:
        running.stop()


def test_slow_connections_are_closed_to_make_room_for_real_requests(study: Path) -> None:
    running = Running(create_app(study), Limits(request_s=30, idle_s=30, grace_s=0.3, max_connections=8))
    path = next(iter(feed_paths(study).values()))
    slow = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(8)]
    try:
        for sock in slow:
            sock.sendall(HALF)
        time.sleep(0.5)
        answers = [get(running.port, path)[0] for _ in range(12)]
        assert answers == [200] * 12
        assert running.connections() <= 8
        assert sum(closed_within(sock, 0.05) is not None for sock in slow) >= 1
    finally:
        for sock in slow:
            sock.close()
        running.stop()


def test_a_connection_beyond_the_limit_is_refused_when_none_can_be_closed(study: Path) -> None:
    running = Running(create_app(study), Limits(request_s=30, idle_s=30, grace_s=60, max_connections=4))
    slow = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(4)]
    try:
        for sock in slow:
            sock.sendall(HALF)
        time.sleep(0.2)
        assert get(running.port, next(iter(feed_paths(study).values())))[0] == 503
    finally:
        for sock in slow:
            sock.close()
        running.stop()


def test_a_request_during_the_swap_waits_for_the_new_folder(study: Path, guarded: Running) -> None:
    """Between generate's two renames the study folder is missing for a moment: no 404 then."""
    path = next(iter(feed_paths(study).values()))
    wanted = (study / "feeds" / path.lstrip("/")).read_bytes()
    parked = study.with_name(study.name + ".parked")
    study.rename(parked)
    back = threading.Timer(0.3, parked.rename, args=(study,))
    back.start()
    try:
        assert get(guarded.port, path) == (200, wanted)
    finally:
        back.join()


@pytest.mark.parametrize(("descriptors", "connections"), [(64, 32), (8192, 4096)])
def test_the_connection_limit_follows_the_descriptor_limit(descriptors: int, connections: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < descriptors:
        pytest.skip(f"the hard limit is {hard} descriptors")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, hard))

    code = "from dosing.serve.guard import default_max_connections as m; print(m())"
    shown = subprocess.run([sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True, check=True)
    assert int(shown.stdout) == connections


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def dosing_serve(study: Path, descriptors: int) -> Iterator[int]:
    """``dosing serve`` in its own process, allowed ``descriptors`` open files (``ulimit -n``)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    port = free_port()
    # the log goes to a file, not a pipe: an unread pipe would fill up and stall the server
    with tempfile.TemporaryFile() as log:
        command = [sys.executable, "-m", "dosing", "serve", str(study), "--port", str(port)]
        process = subprocess.Popen(command, preexec_fn=limit, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_until_listening(process, port)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "dosing serve stopped"
        assert time.monotonic() < deadline, "dosing serve did not start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


def test_sixty_slow_connections_do_not_starve_a_server_with_64_descriptors(study: Path) -> None:
    slow = []
    with contextlib.ExitStack() as stack:
        served = stack.enter_context(dosing_serve(study, 64))
        stack.callback(lambda: [sock.close() for sock in slow])
        for _ in range(60):  # the attack: more half-sent requests than the server has descriptors
            sock = socket.create_connection(("127.0.0.1", served), timeout=5)
            sock.sendall(HALF)
            slow.append(sock)
        time.sleep(1.3)  # older than the grace period: these can be closed to make room
        wanted = {path: (study / "feeds" / path.lstrip("/")).read_bytes() for path in feed_paths(study).values()}
        answers = [(path, get(served, path, timeout=5)) for path in list(wanted) * 5]
        assert [(status, body) for _, (status, body) in answers] == [(200, wanted[path]) for path, _ in answers]


async def raw_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 60)
    writer.close()
    return parse(answer)


async def slow_client(port: int, stop: asyncio.Event) -> int:
    """Holds a half-sent request open, reopening it whenever the server closes it; returns how often it
    was closed."""
    closed = 0
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF)
        read, halt = asyncio.ensure_future(reader.read()), asyncio.ensure_future(stop.wait())
        await asyncio.wait({read, halt}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if read.done():
            closed += 1
            read.exception()
        read.cancel()
        halt.cancel()
        writer.close()
    return closed


def regenerate(study: Path, versions: list[dt.timedelta | None], stop: threading.Event, done: list[int]) -> None:
    """``generate`` again and again, alternating the feeds between two versions, until ``stop`` (at most 50)."""
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    while not stop.is_set() and len(done) < 50:
        remind = versions[len(done) % 2]
        dosing.generate(protocol, cohort, study.parent, key_file=study.parent.parent / "feed.key", remind=remind)
        done.append(1)


def two_versions(study: Path, versions: list[dt.timedelta | None]) -> dict[str, set[bytes]]:
    """Every feed's body in each version (generated in turn, the first version left in place)."""
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    bodies: dict[str, set[bytes]] = {}
    for remind in reversed(versions):
        dosing.generate(protocol, cohort, study.parent, key_file=study.parent.parent / "feed.key", remind=remind)
        for path in feed_paths(study).values():
            bodies.setdefault(path, set()).add((study / "feeds" / path.lstrip("/")).read_bytes())
    return bodies


async def load(port: int, paths: list[str], rounds: int, done: list[int]) -> tuple[list[Any], int]:
    """Rounds of 1,000 concurrent requests, with 50 slow connections held open the whole time; stops after
    ``rounds`` or once two regenerations are ``done``. Returns the answers and how often a slow connection
    was closed by the server."""
    stop = asyncio.Event()
    slow = [asyncio.ensure_future(slow_client(port, stop)) for _ in range(50)]
    await asyncio.sleep(0.2)
    answers: list[Any] = []
    for _ in range(rounds):
        picks = [paths[i % len(paths)] for i in range(1000)]
        results = await asyncio.gather(*(raw_get(port, path) for path in picks), return_exceptions=True)
        answers += zip(picks, results, strict=True)
        if len(done) >= 2:
            break
    stop.set()
    return answers, sum(await asyncio.gather(*slow))


def test_a_thousand_requests_and_fifty_slow_connections_while_the_feeds_are_regenerated(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    study = tmp_path / "out" / "nct02467504"
    versions: list[dt.timedelta | None] = [None, dt.timedelta(minutes=15)]
    bodies = two_versions(study, versions)
    assert all(len(both) == 2 for both in bodies.values())
    unknown = "/" + "Z" * 43 + ".ics"
    stop, done = threading.Event(), []
    with dosing_serve(study, 4096) as port:
        thread = threading.Thread(target=regenerate, args=(study, versions, stop, done), daemon=True)
        thread.start()
        started = time.monotonic()
        answers, slow_closed = asyncio.run(load(port, [*bodies, unknown], 20, done))
        elapsed = time.monotonic() - started
        stop.set()
        thread.join(timeout=60)
    print(f"{len(answers)} requests in {elapsed:.1f} s with {len(done)} regenerations; slow closed {slow_closed}x")
    bad = [(path, result) for path, result in answers if not answered_whole(path, result, bodies)]
    assert bad == [], bad[:3]
    assert len(done) >= 2  # the folder was swapped while requests were under way


def answered_whole(path: str, result: Any, bodies: dict[str, set[bytes]]) -> bool:
    """A known feed came whole in one of its two versions; anything else is the plain 404."""
    if isinstance(result, BaseException):
        return False
    status, body = result
    if path in bodies:
        return status == 200 and body in bodies[path]
    return status == 404 and body == b"Not found\n"


def test_out_of_descriptors_is_a_503_not_a_404(study: Path, guarded: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 404 would tell a calendar app that its feed is gone; running out of descriptors is temporary."""
    import errno

    import dosing.serve.server

    def no_descriptors(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(dosing.serve.server, "open", no_descriptors, raising=False)
    status, body = get(guarded.port, next(iter(feed_paths(study).values())))
    assert (status, body) == (503, b"Busy, try again\n")


@pytest.mark.parametrize("size", [17_000, 100_000])
def test_a_request_head_over_16_kib_in_one_packet_is_refused(study: Path, guarded: Running, size: int) -> None:
    """Before: answered 200 (h11's limit applies only to a head still incomplete)."""
    path = sorted(feed_paths(study).values())[0]
    padding = b"X-Pad: " + b"a" * size + b"\r\n"
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + padding + b"\r\n")
        answer = receive_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_a_request_head_of_16_kib_is_answered(study: Path, guarded: Running) -> None:
    path = sorted(feed_paths(study).values())[0]
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: ".encode()
    head += b"a" * (16 * 1024 - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == 16 * 1024
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(head)
        status, body = parse(receive_all(sock))
    assert status == 200 and body.startswith(b"BEGIN:VCALENDAR")
