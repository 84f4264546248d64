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
"""

from __future__ import annotations

import http.client
import json
import sys
import time
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
    """Send every recorded request of every recorded connection, in order."""
    jar: dict[str, str] = {}
    statuses = []
    host = f"{plan['host']}:{plan['port']}"
    started = time.perf_counter()
    for requests in plan["connections"]:
        connection = connect(plan)
        connection.connect()
        for text in requests:
            raw = substitute(text.encode("latin-1"), jar, host)
            assert connection.sock is not None
            connection.sock.sendall(raw)
            response = http.client.HTTPResponse(connection.sock, method=raw.split(b" ", 1)[0]
                                                .decode("ascii"))
            response.begin()
            response.read()
            statuses.append(response.status)
            remember(jar, response.headers.get_all("Set-Cookie") or [])
        connection.close()
    return {"total_time": time.perf_counter() - started, "statuses": statuses}


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        plan = json.load(handle)
    result = replay(plan)
    print(json.dumps(result))
    return 0 if all(status == 200 for status in result["statuses"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
