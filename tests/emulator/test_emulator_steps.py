"""Faults apply to the step they name (issue 13, item 3): ``logon`` is the Execute carrying
RopLogon, ``inbox`` the Execute carrying a RopOpenFolder of the mailbox's Inbox; any other
Execute (another client's later requests) gets no fault."""

from __future__ import annotations

import time

import httpx
import pytest

from check_mapi.emulator.emsmdb import execute_step
from check_mapi.wire import (
    ExecuteResponse,
    RopBuffer,
    RopGetContentsTableRequest,
    RopLogonRequest,
    RopOpenFolderRequest,
    RopReleaseRequest,
    RopRequest,
    parse_response_stream,
)

from ..conftest import Emulators
from .emu_helpers import NO_HANDLE, RULER_DN, TIMEOUT
from .test_emulator_faults import INBOX, faulty, mapi
from .test_emulator_ruler import replay

SENT_ITEMS = int.from_bytes(bytes.fromhex("0100000000000007"), "little")  # ruler's 2nd folder
RULER_STEPS = ["connect-request", "execute-logon-request", "execute-openfolder-inbox-request",
               "execute-release-openfolder-getcontentstable-request",
               "execute-setcolumns-queryrows-release-request",
               "execute-openmessage-getpropertieslist-request", "disconnect-request"]


def _segments(*rops: RopRequest) -> tuple[RopBuffer[RopRequest], ...]:
    return (RopBuffer(rops, (NO_HANDLE,) * 3),)


@pytest.mark.parametrize(("segments", "step"), [
    (_segments(RopLogonRequest(0, 0, 0x01, 0, 0, RULER_DN)), "logon"),
    (_segments(RopOpenFolderRequest(0, 0, 1, INBOX, 0),
               RopGetContentsTableRequest(0, 1, 2, 0x40)), "inbox"),
    (_segments(RopReleaseRequest(0, 1), RopOpenFolderRequest(0, 0, 1, SENT_ITEMS, 0)), None),
    (_segments(RopReleaseRequest(0, 1)), None),
    (None, None),  # an undecodable ROP buffer
])
def test_step_of_an_execute(segments: tuple[RopBuffer[RopRequest], ...] | None,
                            step: str | None) -> None:
    assert execute_step(segments, INBOX) == step


def test_inbox_fault_hits_only_the_inbox_request_of_ruler(start: Emulators) -> None:
    """ruler's own bytes: only its RopOpenFolder(Inbox) fails; the Sent Items table, its
    rows and the message request after it are answered as without the fault."""
    emulator = faulty(start, 'step = "inbox"\nrop_error = "ecNotFound"')
    cookies: dict[str, str] = {}
    with httpx.Client(timeout=TIMEOUT) as http:
        bodies = [parse_response_stream(replay(http, emulator, step, cookies).content).body
                  for step in RULER_STEPS]
    inbox, table = ExecuteResponse.decode(bodies[2]), ExecuteResponse.decode(bodies[3])
    assert isinstance(inbox, ExecuteResponse) and isinstance(table, ExecuteResponse)
    assert bodies[2][26:32] == bytes.fromhex("02 01 0f010480")  # RopOpenFolder ecNotFound
    assert [getattr(rop, "return_value", 0) for rop in table.rops] == [0, 0]
    assert emulator.stats().faults_applied == 1


def test_inbox_latency_does_not_slow_other_executes(start: Emulators) -> None:
    with mapi(start, 'step = "inbox"\nlatency_ms = 400') as m:
        m.connect()
        _, handle = m.logon()
        began = time.monotonic()
        m.execute([RopOpenFolderRequest(0, 0, 1, SENT_ITEMS, 0),
                   RopGetContentsTableRequest(0, 1, 2, 0x40)], [handle, NO_HANDLE, NO_HANDLE])
        other = time.monotonic() - began
        began = time.monotonic()
        m.execute([RopOpenFolderRequest(0, 0, 1, INBOX, 0)], [handle, NO_HANDLE])
        inbox = time.monotonic() - began
    assert other < 0.3
    assert inbox >= 0.4
    assert start[0].stats().faults_applied == 1


def test_logon_fault_is_not_an_inbox_fault(start: Emulators) -> None:
    with mapi(start, 'step = "logon"\nrop_error = "ecLoginFailure"') as m:
        m.connect()
        m.execute([RopOpenFolderRequest(0, 0, 1, INBOX, 0)], [NO_HANDLE, NO_HANDLE])
        answer = m.post("Execute", b"\x03\x00\x00\x00\x04\x00\x00\x00garb\x00\x00\x01\x00"
                        b"\x00\x00\x00\x00")
        assert answer.code == 0  # ecRpcFormat in the body, no fault
        assert answer.body[4:8] == (0x000004B6).to_bytes(4, "little")
    assert start[0].stats().faults_applied == 0
