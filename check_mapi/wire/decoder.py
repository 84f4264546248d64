"""Decode captured MAPI/HTTP bytes for people: ``python -m check_mapi.wire decode KIND FILE``.

FILE holds raw bytes, or hex text when its name ends in ``.hex`` (``#`` lines ignored);
``-`` reads standard input. The decoded structure is printed as JSON.

ROP lists are decoded as far as they go, so that another client's conversation can be read:
every ROP the codec knows (:mod:`.rop_requests`, :mod:`.rop_responses`, whatever they hold),
and the 6-byte failure form of any ROP response ([MS-OXCROPS] 2.2.1: RopId, handle index,
ReturnValue != 0), whatever its RopId. The first ROP that neither decodes ends its list: the
rest is printed as ``{"not_decoded": {"offset": N, "reason": ..., "bytes": hex}}`` (in the
list for rop-request/rop-response, in its ``rop_buffers`` entry for Execute bodies) and
``decode: not decoded from offset N (0xN): reason`` goes to stderr. That is still exit 0:
the tool did its job. Exit 1 (one line on stderr) when the bytes around the ROPs do not decode
(body fields, rpc_header_ext, RopSize, chunked framing); 2 for bad arguments or files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import DecodeError
from ..values import Value
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
from .codes import ErrorCode, RopId, describe_rop
from .render import to_data
from .rop_requests import read_rop_request
from .rop_responses import RopContext, read_rop_response
from .ropbuffer import Undecoded, read_rop_buffers_partial, read_rops_partial
from .stream import parse_response_stream

Notes = list[Undecoded]
Decoder = Callable[[bytes, RopContext, Notes], Any]
_NO_FAILURE_FORM = frozenset({RopId.RopLogon, RopId.RopBufferTooSmall, RopId.RopBackoff})


class RopFailure(Value):
    """A ROP response's failure form for a RopId whose success form the codec lacks."""

    rop_id: int
    handle_index: int
    return_value: int


def read_rop_failure(r: Reader) -> RopFailure:
    """RopId, handle index, ReturnValue (not 0): the same 6 bytes for every ROP, except
    RopLogon's ecWrongServer form and the unsolicited RopBufferTooSmall/RopBackoff."""
    at = r.offset
    rop_id, index, value = r.u8("RopId"), r.u8("HandleIndex"), r.u32("ReturnValue")
    if rop_id in _NO_FAILURE_FORM or value == ErrorCode.Success:
        raise r.error(f"{describe_rop(rop_id)}: not a failure response", at)
    return RopFailure(rop_id, index, value)


def _readers(kind: str, ctx: RopContext) -> list[Callable[[Reader], Any]]:
    if kind == "request":
        return [read_rop_request]
    return [lambda r: read_rop_response(r, ctx), read_rop_failure]


def _not_decoded(rest: Undecoded) -> dict[str, Any]:
    return {"not_decoded": {"offset": rest.offset, "reason": rest.reason,
                            "bytes": rest.data.hex()}}


def _rops(kind: str) -> Decoder:
    def decode(data: bytes, ctx: RopContext, notes: Notes) -> Any:
        if not data:
            raise DecodeError("RopsList: empty", 0)
        rops, rest = read_rops_partial(data, 0, _readers(kind, ctx))
        out = to_data(rops)
        if rest is not None:
            notes.append(rest)
            out.append(_not_decoded(rest))
        return out
    return decode


def _segments(data: bytes, at: int, kind: str, ctx: RopContext, notes: Notes
              ) -> tuple[tuple[Any, ...], list[Undecoded | None]]:
    segments = read_rop_buffers_partial(data, at, _readers(kind, ctx)) if data else ()
    rests = [rest for _, rest in segments]
    notes.extend(rest for rest in rests if rest is not None)
    return tuple(segment for segment, _ in segments), rests


def _with_rests(out: dict[str, Any], rests: list[Undecoded | None]) -> dict[str, Any]:
    for entry, rest in zip(out["rop_buffers"], rests, strict=True):
        if rest is not None:
            entry.update(_not_decoded(rest))
    return out


def _execute_request(data: bytes, ctx: RopContext, notes: Notes) -> Any:
    """ExecuteRequest.decode's layout (2.2.4.2.1), with partial ROP lists."""
    r = Reader(data, "Execute request")
    flags, size = r.u32("Flags"), r.u32("RopBufferSize")
    at = r.offset
    buffers, rests = _segments(r.take(size, "RopBuffer"), at, "request", ctx, notes)
    value = ExecuteRequest(buffers, flags, r.u32("MaxRopOut"), r.counted_bytes32(
        "AuxiliaryBuffer"))
    r.expect_end()
    return _with_rests(to_data(value), rests)


def _execute_response(data: bytes, ctx: RopContext, notes: Notes) -> Any:
    """ExecuteResponse.decode's layout (2.2.4.2.2), with partial ROP lists."""
    r = Reader(data, "Execute response")
    if r.u32("StatusCode"):
        return to_data(ExecuteResponse.decode(data, ctx))  # the short failure form
    error_code, flags, size = r.u32("ErrorCode"), r.u32("Flags"), r.u32("RopBufferSize")
    at = r.offset
    buffers, rests = _segments(r.take(size, "RopBuffer"), at, "response", ctx, notes)
    value = ExecuteResponse(error_code, buffers, flags, r.counted_bytes32("AuxiliaryBuffer"))
    r.expect_end()
    return _with_rests(to_data(value), rests)


def _handle_table(data: bytes, ctx: RopContext, notes: Notes) -> object:
    r = Reader(data, "ServerObjectHandleTable")
    if len(data) % 4 or not data:
        raise r.error(f"{len(data)} bytes are not a whole number of 4-byte handles")
    return [r.u32("ServerObjectHandle") for _ in range(len(data) // 4)]


def _whole(decode: Callable[[bytes], object]) -> Decoder:
    return lambda data, ctx, notes: to_data(decode(data))


BODY_KINDS: dict[str, Decoder] = {
    "connect-request": _whole(ConnectRequest.decode),
    "connect-response": _whole(ConnectResponse.decode),
    "execute-request": _execute_request,
    "execute-response": _execute_response,
    "disconnect-request": _whole(DisconnectRequest.decode),
    "disconnect-response": _whole(DisconnectResponse.decode),
    "rop-request": _rops("request"),
    "rop-response": _rops("response"),
    "handle-table": _handle_table,
}


def _decode(kind: str, data: bytes, ctx: RopContext, body_kind: str | None,
            notes: Notes) -> Any:
    if kind == "chunked":
        chunked = dechunk(data)
        out: dict[str, Any] = {"chunks": [c.decode("latin-1") for c in chunked.chunks],
                               "complete": chunked.complete}
        if chunked.complete:
            out["stream"] = _decode("stream", chunked.data, ctx, body_kind, notes)
        return out
    if kind == "stream":
        stream = parse_response_stream(data)
        result = to_data(stream)
        if body_kind is not None:
            result["decoded_body"] = _decode(body_kind, stream.body, ctx, None, notes)
        return result
    return BODY_KINDS[kind](data, ctx, notes)


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
    notes: Notes = []
    try:
        result = _decode(args.kind, data, ctx, args.body, notes)
    except DecodeError as err:
        print(f"decode: {err}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    for rest in notes:  # partial: still exit 0, the JSON holds what was decoded
        print(f"decode: not decoded from offset {rest.offset} (0x{rest.offset:X}): "
              f"{rest.reason}", file=sys.stderr)
    return 0
