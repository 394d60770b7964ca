"""``dosing serve``: a real uvicorn server on loopback, fetched over HTTP with httpx."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="dosing serve needs the `serve` extra (starlette, uvicorn)")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from conftest import FIXTURES, PROTOCOLS  # noqa: E402

import dosing  # noqa: E402
from dosing.serve.server import create_app, redact  # noqa: E402


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    root = tmp_path_factory.mktemp("serve")
    result = dosing.generate(protocol, cohort, root / "out", key_file=root / "secret" / "feed.key")
    return result.folder


@pytest.fixture(scope="module")
def base(study: Path) -> Iterator[str]:
    """The real server on 127.0.0.1 and a free port, in a thread; stopped at the end."""
    config = uvicorn.Config(create_app(study), host="127.0.0.1", port=0, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def feed_urls(study: Path, base: str) -> dict[str, str]:
    lines = (study / "feeds.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    return {line.split(",")[0]: base + "/" + line.split(",")[1].rsplit("/", 1)[1] for line in lines}


def test_a_patient_fetches_their_feed_by_token(study: Path, base: str) -> None:
    url = feed_urls(study, base)["RA-101"]
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert answer.content == (study / "patients" / "RA-101" / "calendar.ics").read_bytes()
    assert answer.headers["etag"].startswith('"') and answer.headers["last-modified"].endswith("GMT")


def test_etag_and_last_modified_give_304(study: Path, base: str) -> None:
    url = feed_urls(study, base)["RA-102"]
    first = httpx.get(url)
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    since = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    stale = httpx.get(url, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/feeds/",
        "/feeds.csv",
        "/doses.csv",
        "/patients/RA-101/calendar.ics",
        "/../feeds.csv",
        "/%2e%2e/feeds.csv",
        "/..%2ffeeds.csv",
        "/..%2F..%2Fetc%2Fpasswd",
        "/short.ics",
        "/" + "A" * 43 + ".ics",
        "/" + "A" * 43 + ".ics/",
        "/" + "A" * 43,
    ],
)
def test_anything_but_a_known_token_is_the_same_404(base: str, path: str) -> None:
    answer = httpx.get(base + path)
    assert answer.status_code == 404
    assert answer.text == "Not found\n"
    assert "text/calendar" not in answer.headers["content-type"]


def test_unknown_token_and_unknown_patient_look_alike(study: Path, base: str) -> None:
    known = feed_urls(study, base)["RA-103"]
    made_up = known[: -len("AAAA.ics")] + "AAAA.ics"
    answers = [httpx.get(made_up), httpx.get(base + "/" + "B" * 43 + ".ics")]
    shapes = [(a.status_code, a.content, sorted(a.headers.keys())) for a in answers]
    assert shapes[0] == shapes[1]
    assert shapes[0][0] == 404


def test_post_is_refused_like_everything_else(study: Path, base: str) -> None:
    answer = httpx.post(feed_urls(study, base)["RA-101"], content=b"x")
    assert answer.status_code == 404 and answer.text == "Not found\n"


def test_the_request_log_never_shows_a_token(study: Path, base: str, caplog: pytest.LogCaptureFixture) -> None:
    url = feed_urls(study, base)["RA-101"]
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with caplog.at_level(logging.INFO, logger="dosing.serve.server"):
        httpx.get(url)
        httpx.get(base + "/" + "C" * 43 + ".ics")
    messages = [r.getMessage() for r in caplog.records if r.name == "dosing.serve.server"]
    assert len(messages) == 2
    assert all(token not in m and "C" * 20 not in m for m in messages)
    assert messages[0].startswith("GET " + redact("/" + token + ".ics") + " 200")


async def raw_get(url: str) -> tuple[int, bytes]:
    """One GET on its own connection (httpx's pool serialises hundreds of connections)."""
    address = httpx.URL(url)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(
        f"GET {address.raw_path.decode()} HTTP/1.1\r\nHost: {address.host}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    assert len(body) == length
    return int(head.split()[1]), body


def test_a_few_hundred_concurrent_requests_all_arrive_intact(study: Path, base: str) -> None:
    urls = list(feed_urls(study, base).items())
    wanted = {pid: (study / "patients" / pid / "calendar.ics").read_bytes() for pid, _ in urls}
    wanted["-"] = b"Not found\n"
    urls.append(("-", base + "/" + "D" * 43 + ".ics"))
    picks = [urls[i % len(urls)] for i in range(300)]

    async def fetch_all() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(raw_get(url) for _, url in picks))

    results = asyncio.run(fetch_all())
    assert len(results) == 300
    for (pid, _), (status, body) in zip(picks, results, strict=True):
        assert (status, body) == (404 if pid == "-" else 200, wanted[pid])


def test_serve_refuses_a_folder_without_feeds(tmp_path: Path) -> None:
    with pytest.raises(dosing.DosingError, match="no feeds folder"):
        create_app(tmp_path)


def test_the_serve_command_names_a_folder_without_feeds(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dosing.cli import main

    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", "0"])
    assert result.exit_code == 2
    assert "no feeds folder here" in result.output and "Fix:" in result.output
