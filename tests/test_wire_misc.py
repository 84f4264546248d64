"""Named codes, chunked captures and the decoder's remaining paths."""

from __future__ import annotations

import io
import json
import runpy
import sys
from pathlib import Path

import pytest

from check_mapi.errors import DecodeError, MapiError, ServiceState
from check_mapi.wire import (
    describe_error,
    describe_property_tag,
    describe_response_code,
    describe_rop,
)
from check_mapi.wire.chunked import dechunk
from check_mapi.wire.codes import describe_property_type
from check_mapi.wire.decoder import main

from .wire_helpers import vector


def test_names_read_like_the_spec() -> None:
    assert describe_error(0x80040111) == "ecLoginFailure (0x80040111)"
    assert describe_error(0x4B9) == "ecNullObject (0x000004B9)"
    assert describe_error(0x12345678) == "0x12345678"
    assert describe_response_code(10) == "10 (Context Not Found)"
    assert describe_response_code(7) == "7 (Missing Header)"
    assert describe_response_code(99) == "99 (not defined by MS-OXCMAPIHTTP)"
    assert describe_rop(0xFE) == "RopLogon (0xFE)"
    assert describe_rop(0x42) == "ROP 0x42"
    assert describe_property_tag(0x0037001F) == "PidTagSubject (0x0037001F)"
    assert describe_property_tag(0x80C7001E) == "0x80C7001E"
    assert describe_property_type(0x001F) == "PtypString"
    assert describe_property_type(0x1234) == "0x1234"


def test_decode_error_carries_state_and_offset() -> None:
    err = DecodeError("Connect response: truncated", 17)
    assert isinstance(err, MapiError)
    assert err.state is ServiceState.CRITICAL
    assert str(err) == "Connect response: truncated at offset 17 (0x11)"


@pytest.mark.parametrize(("data", "message", "offset"), [
    (b"C" * 2000, "chunk-size line without CRLF", 0),
    (b"zz\r\nab\r\n", "chunk size b'zz' is not hexadecimal", 0),
    (b"-1\r\n", "chunk size b'-1' is not hexadecimal", 0),
    (b"1_0\r\n", "chunk size b'1_0' is not hexadecimal", 0),
    (b"5\r\nab\r\n", "chunk of 5 bytes is truncated", 3),
    (b"2\r\nab\r\n0\r\n\r\nextra", "data after the last chunk", 10),
])
def test_chunked_errors(data: bytes, message: str, offset: int) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        dechunk(data)
    assert info.value.offset == offset


def test_chunk_extensions_and_end_without_trailer() -> None:
    chunked = dechunk(b"2;name=value\r\nab\r\n0\r\n")
    assert chunked.chunks == (b"ab",)
    assert chunked.complete
    assert chunked.data == b"ab"


def test_stream_without_body_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.bin"
    path.write_bytes(b"PROCESSING\r\nDONE\r\n\r\n")
    assert main(["decode", "stream", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"pending_count": 0, "additional_headers": [], "response_code": None,
                   "elapsed_time": None, "start_time": None, "body": ""}


def test_sort_orders_and_flagged_errors_render(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.hex"
    path.write_text("13 00 01 00 0100 0000 0000 4000 060e 01\n")
    assert main(["decode", "rop-request", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["sort_orders"] == [
        {"property_tag": "PidTagMessageDeliveryTime (0x0E060040)", "order": 1}]
    path.write_text("15 00 00000000 02 0100 01 0a 0f010480\n")
    assert main(["decode", "rop-response", str(path), "--columns", "0x0E080003"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["rows"][0]["cells"] == [
        {"tag": "PidTagMessageSize (0x0E080003)", "type": "PtypInteger32",
         "error_code": "ecNotFound (0x8004010F)"}]


def test_stdin_and_module_main(monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    data = vector("ruler/disconnect-request.bin")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    monkeypatch.setattr(sys, "argv", ["check_mapi.wire", "decode", "disconnect-request", "-"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("check_mapi.wire", run_name="__main__", alter_sys=True)
    assert info.value.code == 0
    assert json.loads(capsys.readouterr().out) == {"auxiliary_buffer": ""}
