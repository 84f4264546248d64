"""Hypothesis: any bytes give a value or DecodeError; every structure round-trips."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    ConnectRequest,
    ConnectResponse,
    DisconnectRequest,
    DisconnectResponse,
    ExecuteRequest,
    ExecuteResponse,
    FailureResponse,
    LogonTime,
    PropertyError,
    PropertyMissing,
    PropertyRow,
    PropertyValue,
    ResponseStreamParser,
    RopBuffer,
    RopContext,
    RopErrorResponse,
    RopGetContentsTableRequest,
    RopGetContentsTableResponse,
    RopId,
    RopLogonRedirectResponse,
    RopLogonRequest,
    RopLogonResponse,
    RopOpenFolderRequest,
    RopOpenFolderResponse,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopReleaseRequest,
    RopSetColumnsRequest,
    RopSetColumnsResponse,
    RopSortTableRequest,
    RopSortTableResponse,
    SortOrder,
    parse_response_stream,
)
from check_mapi.wire._buffer import Reader
from check_mapi.wire.chunked import dechunk
from check_mapi.wire.rop_requests import (
    RopGetHierarchyTableRequest,
    RopGetNamesFromPropertyIdsRequest,
    RopGetPropertiesListRequest,
    RopGetRulesTableRequest,
    RopOpenMessageRequest,
    read_rop_request,
)
from check_mapi.wire.rop_responses import (
    BackoffRop,
    RopBackoffResponse,
    RopBufferTooSmallResponse,
    RopGetHierarchyTableResponse,
    RopGetRulesTableResponse,
    RopLogonPublicResponse,
    read_rop_response,
)

COLUMNS = (0x0037001F, 0x0E060040, 0x0E080003, 0x001E001E, 0x0102_0102, 0x000B000B,
           0x10031003, 0x00480048)
CTX = RopContext(columns=COLUMNS)


def _rops(read_one: Callable[[Reader], object]) -> Callable[[bytes], object]:
    def decode(data: bytes) -> object:
        r = Reader(data, "t")
        while r.remaining:
            read_one(r)
        return None
    return decode


DECODERS: list[Callable[[bytes], object]] = [
    ConnectRequest.decode, ConnectResponse.decode, ExecuteRequest.decode,
    lambda d: ExecuteResponse.decode(d, CTX), DisconnectRequest.decode,
    DisconnectResponse.decode, parse_response_stream, dechunk,
    _rops(read_rop_request), _rops(lambda r: read_rop_response(r, CTX)),
]


@settings(max_examples=400)
@given(st.sampled_from(DECODERS), st.binary(max_size=300))
def test_any_bytes_give_a_value_or_decode_error(decode: Callable[[bytes], object],
                                                data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


@settings(max_examples=200)
@given(st.sampled_from(DECODERS[:6]), st.binary(min_size=1, max_size=64))
def test_structured_prefixes_then_garbage(decode: Callable[[bytes], object], tail: bytes) -> None:
    """Garbage after a plausible start still decodes or fails cleanly."""
    for head in (b"\x00" * 20, b"\x00\x00\x00\x00\x00\x00\x04\x00", b"PROCESSING\r\nDONE\r\n"):
        with contextlib.suppress(DecodeError):
            decode(head + tail)


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 0xFFFFFFFFFFFFFFFF)
ascii_text = st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=40)
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
cp1252_text = st.text(st.sampled_from("abcXYZ019 äöüßé€"), max_size=20)
guids = st.builds(uuid.UUID, st.uuids().map(str))
aux = st.binary(max_size=16)

requests = st.one_of(
    st.builds(RopLogonRequest, u8, u8, u8, u32, u32, st.none() | ascii_text),
    st.builds(RopReleaseRequest, u8, u8),
    st.builds(RopOpenFolderRequest, u8, u8, u8, u64, u8),
    st.builds(RopOpenMessageRequest, u8, u8, u8, u16, u64, u8, u64),
    st.builds(RopGetContentsTableRequest, u8, u8, u8, u8),
    st.builds(RopGetHierarchyTableRequest, u8, u8, u8, u8),
    st.builds(RopGetRulesTableRequest, u8, u8, u8, u8),
    st.builds(RopGetPropertiesListRequest, u8, u8),
    st.builds(RopGetNamesFromPropertyIdsRequest, u8, u8, st.lists(u16, max_size=4).map(tuple)),
    st.builds(RopSetColumnsRequest, u8, u8, u8, st.lists(u32, max_size=5).map(tuple)),
    st.builds(RopSortTableRequest, u8, u8, u8, u16, u16,
              st.lists(st.builds(SortOrder, u32, u8), max_size=3).map(tuple)),
    st.builds(RopQueryRowsRequest, u8, u8, u8, u8, u16),
)

values = {
    0x0037001F: text, 0x0E060040: u64, 0x0E080003: u32, 0x001E001E: cp1252_text,
    0x0102_0102: st.binary(max_size=20), 0x000B000B: st.booleans(),
    0x10031003: st.lists(u32, max_size=3).map(tuple), 0x00480048: guids,
}


def cell(tag: int, flagged: bool) -> st.SearchStrategy[object]:
    value = st.builds(PropertyValue, st.just(tag), values[tag])
    if not flagged:
        return value
    return st.one_of(value, st.builds(PropertyMissing, st.just(tag)),
                     st.builds(PropertyError, st.just(tag), u32))


rows = st.booleans().flatmap(lambda flagged: st.tuples(*(cell(t, flagged) for t in COLUMNS)).map(
    lambda cells: PropertyRow(flagged, cells)))
logon_time = st.builds(LogonTime, u8, u8, u8, u8, u8, u8, u16)
rop_ids = st.sampled_from([r for r in RopId if r not in (
    RopId.RopBufferTooSmall, RopId.RopBackoff)])

responses = st.one_of(
    st.builds(RopErrorResponse, st.sampled_from([RopId.RopOpenFolder, RopId.RopQueryRows,
                                                 RopId.RopLogon]), u8,
              st.integers(1, 0xFFFFFFFF).filter(lambda v: v != 0x478)),
    st.builds(RopLogonResponse, u8, u8.map(lambda f: f | 1),
              st.lists(u64, min_size=13, max_size=13).map(tuple), u8, guids, u16, guids,
              logon_time, u64, u32),
    st.builds(RopLogonPublicResponse, u8, u8.map(lambda f: f & ~1),
              st.lists(u64, min_size=13, max_size=13).map(tuple), u16, guids, guids),
    st.builds(RopLogonRedirectResponse, u8, u8, ascii_text.filter(lambda s: len(s) < 250)),
    st.builds(RopOpenFolderResponse, u8, st.booleans(), st.just(False)),
    st.builds(RopOpenFolderResponse, u8, st.booleans(), st.just(True), u16,
              st.lists(ascii_text, max_size=3).map(tuple)),
    st.builds(RopGetContentsTableResponse, u8, u32),
    st.builds(RopGetHierarchyTableResponse, u8, u32),
    st.builds(RopGetRulesTableResponse, u8),
    st.builds(RopSetColumnsResponse, u8, u8),
    st.builds(RopSortTableResponse, u8, u8),
    st.builds(RopQueryRowsResponse, u8, u8, st.lists(rows, max_size=3).map(tuple)),
    st.builds(RopBackoffResponse, u8, u32,
              st.lists(st.builds(BackoffRop, u8, u32), max_size=3).map(tuple),
              st.binary(max_size=8)),
)
handles = st.lists(u32, max_size=4).map(tuple)


def buffers(rops: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[RopBuffer, ...]]:  # type: ignore[type-arg]
    one = st.builds(RopBuffer, st.lists(rops, max_size=4).map(tuple), handles, st.booleans())
    return st.lists(one, min_size=1, max_size=3).map(tuple)


@given(st.builds(ConnectRequest, ascii_text, u32, u32, u32, u32, aux))
def test_connect_request_round_trip(value: ConnectRequest) -> None:
    assert ConnectRequest.decode(value.encode()) == value


@given(st.builds(ConnectResponse, u32, u32, u32, u32, ascii_text, text, aux))
def test_connect_response_round_trip(value: ConnectResponse) -> None:
    assert ConnectResponse.decode(value.encode()) == value


@given(st.builds(FailureResponse, st.integers(1, 0xFFFFFFFF), aux))
def test_failure_round_trip(value: FailureResponse) -> None:
    for cls in (ConnectResponse, ExecuteResponse, DisconnectResponse):
        assert cls.decode(value.encode()) == value


@given(st.builds(ExecuteRequest, buffers(requests), u32, u32, aux))
def test_execute_request_round_trip(value: ExecuteRequest) -> None:
    assert ExecuteRequest.decode(value.encode()) == value


@given(st.builds(ExecuteResponse, u32, buffers(responses), u32, aux))
def test_execute_response_round_trip(value: ExecuteResponse) -> None:
    assert ExecuteResponse.decode(value.encode(CTX), CTX) == value


@given(st.lists(responses, max_size=3), u16, st.binary(max_size=10))
def test_buffer_too_small_is_last(rops: list[Any], size: int, rest: bytes) -> None:
    value = ExecuteResponse(0, (RopBuffer((*rops, RopBufferTooSmallResponse(size, rest)), ()),))
    assert ExecuteResponse.decode(value.encode(CTX), CTX) == value


@given(st.builds(DisconnectRequest, aux), st.builds(DisconnectResponse, u32, aux))
def test_disconnect_round_trip(request: DisconnectRequest, response: DisconnectResponse) -> None:
    assert DisconnectRequest.decode(request.encode()) == request
    assert DisconnectResponse.decode(response.encode()) == response


@given(st.integers(0, 5), st.lists(st.tuples(st.sampled_from(["X-ElapsedTime", "X-StartTime",
                                                              "X-ResponseCode"]),
                                             st.integers(0, 99)), max_size=4),
       st.binary(max_size=40), st.lists(st.integers(1, 20), max_size=8))
def test_stream_round_trip_any_chunking(pending: int, headers: list[tuple[str, int]],
                                        body: bytes, cuts: list[int]) -> None:
    data = b"PROCESSING\r\n" + b"PENDING\r\n" * pending + b"DONE\r\n" + b"".join(
        f"{n}: {v}\r\n".encode() for n, v in headers) + b"\r\n" + body
    whole = parse_response_stream(data, 0)
    assert whole.pending_count == pending
    assert whole.body == body
    codes = [v for n, v in headers if n == "X-ResponseCode"]
    assert whole.response_code == (codes[-1] if codes else 0)
    parser, pos = ResponseStreamParser(0), 0
    for cut in cuts:
        parser.feed(data[pos : pos + cut])
        pos += cut
    parser.feed(data[pos:])
    assert parser.close() == whole
