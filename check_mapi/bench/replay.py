"""The floor: replay recorded requests with nothing but the standard library.

The benchmark records the exact bytes check_mapi sent (through a recording relay) and
runs this file as a script, in the same interpreter as check_mapi, to learn what the same
requests cost with no client library at all: one ``http.client`` connection per recorded
connection, each response read completely before the next request is sent. Two things
must change between the recording and the replay, or the emulator refuses the requests
as Exchange would: the session cookies (``MapiContext``, ``MapiSequence``) are taken from
the answers of this replay, and the ``Host`` header names the server actually connected to.

``python replay.py PLAN.json`` prints ``{"total_time": seconds, "statuses": [...]}`` and
exits 0 when every answer was 200. Standard library only: it runs outside the package.

A plan with ``"threads": N`` (the many-mailbox case) replays its connections N at a time,
each connection a session of its own with its own cookies; with ``"client": "httpx"``
each connection is an ``httpx.Client`` instead (imported only then), so that the table can
show what the same requests cost with the HTTP library check_mapi uses and none of
check_mapi's work.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def split_requests(stream: bytes) -> list[bytes]:
    """Cut a client's byte stream into HTTP/1.1 requests (Content-Length framed bodies)."""
    requests = []
    while stream:
        end = stream.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError("an incomplete request head in the recording")
        head = stream[:end + 4]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise ValueError("a chunked request body cannot be replayed")
        requests.append(stream[:end + 4 + length])
        stream = stream[end + 4 + length:]
    return requests


def substitute(raw: bytes, jar: dict[str, str], host: str) -> bytes:
    """``raw`` with the ``Host`` header set to ``host`` and every cookie the ``Cookie``
    header names that ``jar`` knows set to the jar's value (the rest kept byte for byte)."""
    end = raw.index(b"\r\n\r\n")
    lines = raw[:end].split(b"\r\n")
    for index, line in enumerate(lines[1:], start=1):
        name, _, value = line.partition(b":")
        if name.lower() == b"host":
            lines[index] = name + b": " + host.encode("ascii")
        elif name.lower() == b"cookie":
            pairs = []
            for pair in value.decode("latin-1").split(";"):
                key, sep, old = pair.strip().partition("=")
                pairs.append(f"{key}{sep}{jar.get(key, old)}")
            lines[index] = name + b": " + "; ".join(pairs).encode("latin-1")
    return b"\r\n".join(lines) + raw[end:]


def remember(jar: dict[str, str], set_cookies: list[str]) -> None:
    """Keep the name=value of each Set-Cookie header (attributes ignored)."""
    for header in set_cookies:
        key, _, value = header.split(";", 1)[0].strip().partition("=")
        jar[key] = value


def connect(plan: dict[str, Any]) -> http.client.HTTPConnection:
    if plan.get("tls"):
        import ssl

        context = ssl.create_default_context(cafile=plan.get("cafile"))
        return http.client.HTTPSConnection(plan["host"], plan["port"], context=context)
    return http.client.HTTPConnection(plan["host"], plan["port"])


def replay(plan: dict[str, Any]) -> dict[str, Any]:
    """Send every recorded request of every recorded connection, in order (one cookie jar:
    a probe's Autodiscover connection and its MAPI one)."""
    jar: dict[str, str] = {}
    started = time.perf_counter()
    statuses = [status for requests in plan["connections"]
                for status in _stdlib_session(plan, requests, jar)]
    return {"total_time": time.perf_counter() - started, "statuses": statuses}


def one_session(plan: dict[str, Any], requests: list[str]) -> list[int]:
    """One recorded connection on a connection of its own, with its own cookies."""
    if plan.get("client") == "httpx":
        return _httpx_session(plan, requests)
    return _stdlib_session(plan, requests, {})


def _stdlib_session(plan: dict[str, Any], requests: list[str],
                    jar: dict[str, str]) -> list[int]:
    statuses = []
    host = f"{plan['host']}:{plan['port']}"
    connection = connect(plan)
    connection.connect()
    assert connection.sock is not None
    for text in requests:
        raw = substitute(text.encode("latin-1"), jar, host)
        connection.sock.sendall(raw)
        response = http.client.HTTPResponse(connection.sock,
                                            method=raw.split(b" ", 1)[0].decode("ascii"))
        response.begin()
        response.read()
        statuses.append(response.status)
        remember(jar, response.headers.get_all("Set-Cookie") or [])
    connection.close()
    return statuses


def _httpx_session(plan: dict[str, Any], requests: list[str]) -> list[int]:
    import httpx

    jar: dict[str, str] = {}
    statuses = []
    host = f"{plan['host']}:{plan['port']}"
    scheme = "https" if plan.get("tls") else "http"
    with httpx.Client(verify=plan.get("cafile") or False, timeout=60) as client:
        for text in requests:
            raw = substitute(text.encode("latin-1"), jar, host)
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() not in ("host", "content-length"):  # httpx sets them
                    headers.append((name, value.strip()))
            response = client.request(method, f"{scheme}://{host}{target}", headers=headers,
                                      content=body)
            statuses.append(response.status_code)
            remember(jar, response.headers.get_list("set-cookie"))
    return statuses


def replay_concurrently(plan: dict[str, Any]) -> dict[str, Any]:
    """Every recorded connection as a session of its own, ``plan["threads"]`` at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(plan["threads"]) as pool:
        sessions = list(pool.map(lambda requests: one_session(plan, requests),
                                 plan["connections"]))
    statuses = [status for session in sessions for status in session]
    return {"total_time": time.perf_counter() - started, "statuses": statuses}


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        plan = json.load(handle)
    result = replay_concurrently(plan) if plan.get("threads") else replay(plan)
    print(json.dumps(result))
    return 0 if all(status == 200 for status in result["statuses"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
