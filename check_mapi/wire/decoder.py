"""Decode captured MAPI/HTTP bytes for people: ``python -m check_mapi.wire decode KIND FILE``.

FILE holds raw bytes, or hex text when its name ends in ``.hex`` (``#`` lines ignored);
``-`` reads standard input. The decoded structure is printed as JSON. Exit 0 on success,
1 with a one-line message when the bytes do not decode, 2 for bad arguments or files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import DecodeError
from ._buffer import Reader
from .bodies import (
    ConnectRequest,
    ConnectResponse,
    DisconnectRequest,
    DisconnectResponse,
    ExecuteRequest,
    ExecuteResponse,
)
from .chunked import dechunk
from .render import to_data
from .rop_requests import read_rop_request
from .rop_responses import RopContext, read_rop_response
from .stream import parse_response_stream

Decoder = Callable[[bytes, RopContext], object]


def _rops(read_one: Callable[[Reader], object]) -> Decoder:
    def decode(data: bytes, ctx: RopContext) -> object:
        r = Reader(data, "RopsList")
        rops = [read_one(r)]
        while r.remaining:
            rops.append(read_one(r))
        return rops
    return decode


def _handle_table(data: bytes, ctx: RopContext) -> object:
    r = Reader(data, "ServerObjectHandleTable")
    if len(data) % 4 or not data:
        raise r.error(f"{len(data)} bytes are not a whole number of 4-byte handles")
    return [r.u32("ServerObjectHandle") for _ in range(len(data) // 4)]


BODY_KINDS: dict[str, Decoder] = {
    "connect-request": lambda d, c: ConnectRequest.decode(d),
    "connect-response": lambda d, c: ConnectResponse.decode(d),
    "execute-request": lambda d, c: ExecuteRequest.decode(d),
    "execute-response": ExecuteResponse.decode,
    "disconnect-request": lambda d, c: DisconnectRequest.decode(d),
    "disconnect-response": lambda d, c: DisconnectResponse.decode(d),
    "rop-request": _rops(read_rop_request),
    "rop-response": lambda d, c: _rops(lambda r: read_rop_response(r, c))(d, c),
    "handle-table": _handle_table,
}


def _decode(kind: str, data: bytes, ctx: RopContext, body_kind: str | None) -> Any:
    if kind == "chunked":
        chunked = dechunk(data)
        out: dict[str, Any] = {"chunks": [c.decode("latin-1") for c in chunked.chunks],
                               "complete": chunked.complete}
        if chunked.complete:
            out["stream"] = _decode("stream", chunked.data, ctx, body_kind)
        return out
    if kind == "stream":
        stream = parse_response_stream(data)
        result = to_data(stream)
        if body_kind is not None:
            result["decoded_body"] = _decode(body_kind, stream.body, ctx, None)
        return result
    return to_data(BODY_KINDS[kind](data, ctx))


def _tag(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a property tag: {text!r}") from err
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"property tag out of range: {text!r}")
    return value


def _columns(text: str) -> tuple[int, ...]:
    return tuple(_tag(part.strip()) for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m check_mapi.wire",
        description="Decode MAPI over HTTP bytes (captured bodies, spec examples) as JSON.")
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser("decode", help="decode FILE as KIND and print JSON")
    kinds = [*BODY_KINDS, "stream", "chunked"]
    dec.add_argument("kind", choices=kinds, metavar="KIND", help=", ".join(kinds))
    dec.add_argument("file", metavar="FILE",
                     help="raw bytes, or hex text if the name ends in .hex; - for stdin")
    dec.add_argument("--columns", type=_columns, default=None, metavar="TAG,TAG,...",
                     help="property tags of the table (RopSetColumns order), "
                          "to decode RopQueryRows rows, e.g. 0x0037001F,0x0E060040")
    dec.add_argument("--code-page", type=int, default=1252, metavar="N",
                     help="logon code page for PtypString8 values (default 1252)")
    dec.add_argument("--body", choices=list(BODY_KINDS), default=None, metavar="KIND",
                     help="with stream/chunked: also decode the body as this KIND")
    return parser


def read_input(path: str) -> bytes:
    """The bytes of FILE; ``.hex`` files are hex text with ``#`` comment lines."""
    if path == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as handle:
            raw = handle.read()
    if not path.endswith(".hex"):
        return raw
    lines = raw.decode("ascii").splitlines()
    return bytes.fromhex(" ".join(ln for ln in lines if not ln.lstrip().startswith("#")))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        data = read_input(args.file)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        print(f"decode: cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    ctx = RopContext(columns=args.columns, code_page=args.code_page)
    try:
        result = _decode(args.kind, data, ctx, args.body)
    except DecodeError as err:
        print(f"decode: {err}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
