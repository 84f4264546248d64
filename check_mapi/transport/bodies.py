"""Every answer's body bounded after decoding: no server can make the check hold more than
``MAX_BODY`` bytes of one answer, however it compresses, frames or lengthens it.

The client asks for ``Accept-Encoding: identity`` (``ACCEPT_ENCODING``): nothing the check
reads (MAPI/HTTP streams of at most 64 KiB of ROP output, Autodiscover XML, JSON of a few
KiB) is worth compressing, and httpx's own decoders inflate each network chunk whole, so a
64 KiB chunk of a gzip bomb became 64 MiB at once, and ``gzip, gzip`` gigabytes. A server
(or a proxy) that compresses anyway with ``gzip`` or ``deflate``, in any number of layers,
is still understood: ``bounded`` strips the ``Content-Encoding`` before httpx sees it and
inflates here, each layer at most ``PIECE`` bytes at a time. Other codings (``br``,
``zstd``, ``compress``) are refused: they were not asked for.

The cap counts decoded bytes, so it holds for a 1 GiB body, a chunk size of
``FFFFFFFFFFFFFFFF`` and a bomb alike; reaching it ends the request with a
``TransportError`` naming the server (the probe adds the step: CRITICAL). Readers with a
smaller cap of their own (Autodiscover's 512 KiB) stop before this one; bodies read inside
an httpx auth flow (401 challenges) are bounded by it too, as they pass here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import httpx

from ..errors import TransportError

MAX_BODY = 4 * 1024 * 1024  # decoded bytes of one answer; a MAPI answer holds <= 64 KiB ROPs
PIECE = 64 * 1024  # the most one inflate call may produce
ACCEPT_ENCODING = "identity"
_INFLATE = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # zlib wbits (deflate: zlib-wrapped)


def bounded(response: httpx.Response, host: str, limit: int = MAX_BODY) -> httpx.Response:
    """``response`` with its body decoded here and cut at ``limit`` decoded bytes."""
    codings = [c.strip().lower() for value in response.headers.get_list("content-encoding")
               for c in value.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        response.stream = _Capped(response.stream, (), host, limit)
        return response
    refused = [c for c in codings if c not in _INFLATE]
    if refused:
        response.close()
        raise TransportError(f"answer from {host} uses Content-Encoding {refused[0][:40]!r}, "
                             "which was not asked for (Accept-Encoding: identity)")
    headers = [(k, v) for k, v in response.headers.raw
               if k.lower() not in (b"content-encoding", b"content-length")]
    return httpx.Response(response.status_code, headers=headers,
                          stream=_Capped(response.stream, tuple(codings), host, limit),
                          extensions=response.extensions)


class _Capped(httpx.SyncByteStream):
    """The inner stream, each coding undone (the last applied first), at most ``limit``
    decoded bytes, else TransportError."""

    def __init__(self, inner: Any, codings: tuple[str, ...], host: str, limit: int) -> None:
        self._inner, self._codings, self._host, self._limit = inner, codings, host, limit

    def __iter__(self) -> Iterator[bytes]:
        chunks: Iterator[bytes] = iter(self._inner)
        for coding in reversed(self._codings):
            chunks = _inflated(chunks, coding, self._host)
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > self._limit:
                raise TransportError(f"answer from {self._host} is larger than "
                                     f"{_size(self._limit)} (decoded): refused")
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _inflated(chunks: Iterator[bytes], coding: str, host: str) -> Iterator[bytes]:
    """One coding undone, lazily, never more than ``PIECE`` bytes per step. ``deflate``
    is zlib-wrapped by RFC 9110, but some servers send it raw: both are read."""
    inflater: Any = None
    start = b""
    for chunk in chunks:
        data = chunk
        if inflater is None:
            start += chunk
            if len(start) < 2:  # the zlib header decides: wait for its two bytes
                continue
            wbits = _INFLATE[coding]
            inflater = zlib.decompressobj(wbits if _zlib_header(start) or wbits != 15
                                          else -15)
            data, start = start, b""
        yield from _pieces(inflater, data, coding, host)
    if inflater is None and start:
        raise TransportError(f"answer from {host}: truncated {coding} data")


def _pieces(inflater: Any, data: bytes, coding: str, host: str) -> Iterator[bytes]:
    """What ``data`` inflates to, ``PIECE`` bytes at a time (output zlib holds back once
    a piece is full comes with the next call, fed nothing)."""
    while not inflater.eof:
        try:
            piece = inflater.decompress(data, PIECE)
        except zlib.error as err:
            raise TransportError(f"answer from {host}: corrupt {coding} data "
                                 f"({str(err)[:80]})") from err
        data = inflater.unconsumed_tail
        if not piece and not data:
            return
        if piece:
            yield piece


def _zlib_header(chunk: bytes) -> bool:
    """Whether ``chunk`` starts with a zlib header (RFC 1950: CM 8, FCHECK)."""
    return len(chunk) >= 2 and chunk[0] & 0x0F == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0


def _size(count: int) -> str:
    return f"{count // (1 << 20)} MiB" if count % (1 << 20) == 0 else f"{count // 1024} KiB"
