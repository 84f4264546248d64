"""The response inner stream ([MS-OXCMAPIHTTP] 2.2.7, 3.2.5.2), fed whole and byte by byte."""

from __future__ import annotations

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    HeadersEvent,
    MetaTag,
    MetaTagEvent,
    ResponseStreamParser,
    parse_response_stream,
)
from check_mapi.wire.stream import MAX_LINE

BODY = b"\x00\x00\x00\x00PROCESSING\r\n\r\nbinary"  # a body may contain anything
STREAM = (b"PROCESSING\r\nPENDING\r\nPENDING\r\nDONE\r\n"
          b"X-ResponseCode: 0\r\nX-ElapsedTime: 12\r\n"
          b"X-StartTime: Sat, 21 Nov 2026 10:37:05 GMT\r\n\r\n" + BODY)


def test_whole_stream() -> None:
    stream = parse_response_stream(STREAM, response_code=0)
    assert stream.pending_count == 2
    assert stream.response_code == 0
    assert stream.elapsed_time == 12
    assert stream.start_time == "Sat, 21 Nov 2026 10:37:05 GMT"
    assert stream.body == BODY
    assert stream.additional_headers == (
        ("X-ResponseCode", "0"), ("X-ElapsedTime", "12"),
        ("X-StartTime", "Sat, 21 Nov 2026 10:37:05 GMT"))


def test_byte_by_byte_gives_the_same_events_and_offsets() -> None:
    parser = ResponseStreamParser()
    events = [e for i in range(len(STREAM)) for e in parser.feed(STREAM[i : i + 1])]
    assert events[:4] == [MetaTagEvent(MetaTag.PROCESSING, 0), MetaTagEvent(MetaTag.PENDING, 12),
                          MetaTagEvent(MetaTag.PENDING, 21), MetaTagEvent(MetaTag.DONE, 30)]
    assert isinstance(events[4], HeadersEvent)
    assert len(events) == 5
    assert parser.close() == parse_response_stream(STREAM)


def test_later_response_code_wins() -> None:
    stream = parse_response_stream(b"PROCESSING\r\nDONE\r\nX-ResponseCode: 10\r\n\r\n",
                                   response_code=0)
    assert stream.response_code == 10
    assert stream.body == b""
    assert parse_response_stream(b"PROCESSING\r\nDONE\r\n\r\n", 0).response_code == 0
    twice = b"PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nx-responsecode: 15\r\n\r\n"
    assert parse_response_stream(twice).response_code == 15


def test_gromox_style_single_chunk() -> None:
    """PROCESSING, DONE and headers in one chunk, then the body in a second one."""
    parser = ResponseStreamParser()
    events = parser.feed(b"PROCESSING\r\nDONE\r\nX-ElapsedTime: 0\r\nX-StartTime: x\r\n\r\n")
    assert [type(e) for e in events] == [MetaTagEvent, MetaTagEvent, HeadersEvent]
    assert parser.feed(b"body") == []
    assert parser.close().body == b"body"


@pytest.mark.parametrize(("data", "message", "offset"), [
    (b"StatusCode\x00\x00\r\n", "expected meta-tag PROCESSING, got 'StatusCode", 0),
    (b"PROCESSING\r\nPROCESSING\r\n", "expected meta-tag PENDING or DONE", 12),
    (b"PROCESSING\r\nDONE\r\nno colon\r\n\r\n", "malformed additional header", 18),
    (b"PROCESSING\r\nDONE\r\n: x\r\n\r\n", "malformed additional header", 18),
    (b"PROCESSING\r\nDONE\r\nX-A: \xff\r\n\r\n", "malformed additional header", 18),
    (b"PROCESSING\r\nDONE\r\nX-ResponseCode: ten\r\n\r\n", "X-ResponseCode is not a number", 18),
    (b"PROCESSING\r\nDONE\r\nX-ElapsedTime: 1.5\r\n\r\n", "X-ElapsedTime is not a number", 18),
    (b"<html>" + b"x" * MAX_LINE, f"line longer than {MAX_LINE} bytes", 0),
])
def test_malformed(data: bytes, message: str, offset: int) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        parse_response_stream(data)
    assert info.value.offset == offset


@pytest.mark.parametrize(("data", "state"), [
    (b"", "expecting PROCESSING"),
    (b"PROCESSING\r\nPEND", "expecting PENDING or DONE"),
    (b"PROCESSING\r\nDONE\r\nX-ElapsedTime: 1\r\n", "reading additional headers"),
])
def test_stream_ending_early(data: bytes, state: str) -> None:
    with pytest.raises(DecodeError, match=f"ended while {state}") as info:
        parse_response_stream(data)
    assert info.value.offset == len(data)


def test_every_prefix_before_the_body_fails() -> None:
    head = STREAM[: len(STREAM) - len(BODY)]
    for cut in range(len(head)):
        with pytest.raises(DecodeError):
            parse_response_stream(head[:cut])


def test_unprintable_bytes_are_escaped_in_messages() -> None:
    with pytest.raises(DecodeError) as info:
        parse_response_stream(b"\x1b[31m\xe9" + b"A" * 60 + b"\r\n")
    assert "\\x1b" in str(info.value)
    assert "\\xe9" in str(info.value)
    assert "..." in str(info.value)
    assert "\x1b" not in str(info.value)
