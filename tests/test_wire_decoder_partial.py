"""``python -m check_mapi.wire decode`` on other clients' conversations (issue 13, item 7):
the failure form of any ROP, the ROPs the codec knows, and a clear "not decoded from offset N"
for the rest, exit 0. Offsets below are counted by hand from [MS-OXCMAPIHTTP] 2.2.4.2 and
[MS-OXCRPC] 2.2.2.1 / [MS-OXCROPS] 2.2.1."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import Reader
from check_mapi.wire.decoder import RopFailure, main, read_rop_failure
from check_mapi.wire.render import to_data

OPEN_FOLDER_OK = bytes.fromhex("02 01 00000000 00 00")  # RopOpenFolder success, 8 bytes
OPEN_MESSAGE_FAILED = bytes.fromhex("03 01 0f010480")  # RopOpenMessage ecNotFound, 6 bytes
UNKNOWN_OK = bytes.fromhex("4e 02 00000000 0102030405")  # a success form nobody decodes here
HANDLES = (0x0C000000, 0x101, 0xFFFFFFFF)
# RopOpenFolder request without its OpenModeFlags (13 bytes in [MS-OXCROPS] 2.2.4.1.1)
OPEN_FOLDER_CUT = bytes.fromhex("02 00 00 01 0100000000000005")


def segment(rops: bytes, handles: tuple[int, ...] = HANDLES, last: bool = True,
            xor: bool = False) -> bytes:
    payload = struct.pack("<H", 2 + len(rops)) + rops + b"".join(
        struct.pack("<I", h) for h in handles)
    flags = (0x0004 if last else 0) | (0x0002 if xor else 0)
    if xor:
        payload = bytes(b ^ 0xA5 for b in payload)
    return struct.pack("<HHHH", 0, flags, len(payload), len(payload)) + payload


def execute_response(rop_buffer: bytes) -> bytes:
    return struct.pack("<IIII", 0, 0, 0, len(rop_buffer)) + rop_buffer + bytes(4)


def decode(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, data: bytes,
           *extra: str) -> tuple[int, object, str]:
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    code = main(["decode", kind, str(path), *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else out, err


def test_a_plain_failure_of_any_rop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = decode(tmp_path, capsys, "rop-response",
                            OPEN_MESSAGE_FAILED + bytes.fromhex("42 00 05400780"))
    assert (code, err) == (0, "")
    assert out == [
        {"rop": "RopOpenMessage", "handle_index": 1,
         "return_value": "ecNotFound (0x8004010F)"},
        {"rop": "ROP 0x42", "handle_index": 0, "return_value": "0x80074005"}]


def test_execute_response_decoded_as_far_as_it_goes(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rops = OPEN_FOLDER_OK + OPEN_MESSAGE_FAILED + UNKNOWN_OK
    code, out, err = decode(tmp_path, capsys, "execute-response",
                            execute_response(segment(rops)))
    # StatusCode, ErrorCode, Flags, RopBufferSize: 16; rpc_header_ext: 8; RopSize: 2 ->
    # RopsList at 26; RopOpenFolder 26..33, RopOpenMessage 34..39, the unknown ROP at 40.
    assert code == 0
    assert isinstance(out, dict)
    (buffer,) = out["rop_buffers"]
    assert [rop["rop"] for rop in buffer["rops"]] == ["RopOpenFolder", "RopOpenMessage"]
    assert buffer["server_object_handle_table"] == list(HANDLES)
    rest = buffer["not_decoded"]
    assert (rest["offset"], rest["bytes"]) == (40, UNKNOWN_OK.hex())
    assert "0x4E" in rest["reason"]
    assert err == f"decode: not decoded from offset 40 (0x28): {rest['reason']}\n"


def test_only_the_segment_that_stops_says_so(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    first = segment(OPEN_FOLDER_OK, (1,), last=False)
    second = segment(OPEN_MESSAGE_FAILED + UNKNOWN_OK, (2, 3), xor=True)
    code, out, _ = decode(tmp_path, capsys, "execute-response",
                          execute_response(first + second))
    assert code == 0
    assert isinstance(out, dict)
    one, two = out["rop_buffers"]
    assert "not_decoded" not in one
    # second segment: 16 + len(first) (8 + 2 + 8 + 4 = 22) + 8 + 2 + 6 = 54
    assert two["not_decoded"]["offset"] == 54
    assert two["xor_magic"] is True
    assert two["not_decoded"]["bytes"] == UNKNOWN_OK.hex()  # shown un-XORed


def test_execute_request_with_an_unknown_rop(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    release = bytes.fromhex("01 00 01")  # RopRelease, LogonId 0, InputHandleIndex 1
    rops = release + OPEN_FOLDER_CUT
    rop_buffer = segment(rops, (7,))
    body = struct.pack("<II", 3, len(rop_buffer)) + rop_buffer + struct.pack("<II", 0x5A01, 0)
    code, out, err = decode(tmp_path, capsys, "execute-request", body)
    assert code == 0
    assert isinstance(out, dict)
    (buffer,) = out["rop_buffers"]
    # Flags, RopBufferSize: 8; rpc_header_ext: 8; RopSize: 2; RopRelease 18..20 -> 21
    assert buffer["rops"] == [{"rop": "RopRelease", "logon_id": 0, "input_handle_index": 1}]
    assert buffer["not_decoded"]["offset"] == 21
    assert (out["max_rop_out"], buffer["server_object_handle_table"]) == (0x5A01, [7])
    assert err.startswith("decode: not decoded from offset 21 (0x15): ")


def test_rop_request_list_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = decode(tmp_path, capsys, "rop-request",
                          bytes.fromhex("01 00 01") + OPEN_FOLDER_CUT)
    assert code == 0
    assert isinstance(out, list)
    assert out[0] == {"rop": "RopRelease", "logon_id": 0, "input_handle_index": 1}
    assert out[1]["not_decoded"]["offset"] == 3
    assert out[1]["not_decoded"]["bytes"] == OPEN_FOLDER_CUT.hex()
    assert "OpenModeFlags" in out[1]["not_decoded"]["reason"]


@pytest.mark.parametrize("rop", [
    bytes.fromhex("fe 00 78040000 01 10") + b"EXMBX",  # RopLogon redirect, cut short
    bytes.fromhex("f9 00 01000000"),  # RopBackoff, cut short
    bytes.fromhex("03 01 00000000 00"),  # RopOpenMessage success form, cut short
])
def test_no_failure_form_is_guessed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    rop: bytes) -> None:
    code, out, _ = decode(tmp_path, capsys, "rop-response", OPEN_MESSAGE_FAILED + rop)
    assert code == 0
    assert isinstance(out, list)
    assert out[-1]["not_decoded"]["offset"] == 6


def test_partial_body_inside_a_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = execute_response(segment(UNKNOWN_OK))
    stream = b"PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n\r\n" + body
    code, out, err = decode(tmp_path, capsys, "stream", stream, "--body", "execute-response")
    assert code == 0
    assert isinstance(out, dict)
    assert out["decoded_body"]["rop_buffers"][0]["not_decoded"]["offset"] == 26
    assert err.startswith("decode: not decoded from offset 26 (0x1A): ")


@pytest.mark.parametrize(("kind", "data"), [
    ("rop-response", b""),
    ("execute-response", execute_response(segment(OPEN_FOLDER_OK)) + b"\x00"),  # trailing
    ("execute-request", bytes(7)),
    ("execute-response", execute_response(segment(OPEN_FOLDER_OK))[:-12]),  # framing cut
])
def test_broken_framing_is_still_a_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           kind: str, data: bytes) -> None:
    code, out, err = decode(tmp_path, capsys, kind, data)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1


def test_short_failure_and_empty_rop_buffer(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = decode(tmp_path, capsys, "execute-response",
                          bytes.fromhex("05000000 00000000"))
    assert (code, out) == (0, {"status_code": 5, "auxiliary_buffer": ""})
    code, out, _ = decode(tmp_path, capsys, "execute-response", execute_response(b""))
    assert (code, out) == (0, {"status_code": 0, "error_code": "Success (0x00000000)",
                               "rop_buffers": [], "flags": 0, "auxiliary_buffer": ""})


def test_failure_form_reader_and_rendering() -> None:
    assert read_rop_failure(Reader(OPEN_MESSAGE_FAILED, "t")) == RopFailure(3, 1, 0x8004010F)
    for data in (bytes.fromhex("ff 00 00000001"), bytes.fromhex("03 01 00000000")):
        with pytest.raises(DecodeError, match="not a failure response"):
            read_rop_failure(Reader(data, "t"))
    assert to_data(RopFailure(0x03, 1, 0x8004010F))["rop"] == "RopOpenMessage"
    assert to_data(RopFailure(0x42, 0, 5))["rop"] == "ROP 0x42"
