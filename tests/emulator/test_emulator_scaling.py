"""A large Inbox (``generate_items``) reads exactly as a naive full sort of every item would.

The emulator makes generated items on demand, keeps one sorted order per sort history and
encodes each row once (store.Contents); these tests pin what the protocol can observe --
item count, order, row contents, paging, other sort orders, message ids -- against a plain
``sorted()`` of all items, and the bound on ``generate_items``. No timing here: the
benchmark measures speed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator, InboxItem, loads
from check_mapi.emulator.config import MAX_GENERATED_ITEMS
from check_mapi.emulator.store import build_store
from check_mapi.emulator.tables import LazyTuple
from check_mapi.errors import ConfigError
from check_mapi.wire import (
    SORT_ASCENDING,
    SORT_DESCENDING,
    TABLE_FLAG_USE_UNICODE,
    PropertyValue,
    RopGetContentsTableRequest,
    RopGetContentsTableResponse,
    RopOpenFolderRequest,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
    RopSortTableRequest,
    SortOrder,
    datetime_to_filetime,
)
from check_mapi.wire.rop_requests import RopOpenMessageRequest

from ..conftest import Emulators
from .emu_helpers import COLUMNS, DELIVERY, NO_HANDLE, PASSWORD, RULER_DN, SUBJECT, Mapi, client
from .test_emulator_rops import INBOX, rops_bytes

GENERATED = 100_000
FLAGS_TAG = 0x0E070003
DECLARED = '''
[[mailbox.inbox]]
subject = "Newest of all (declared)"
sender_name = "Zoë"
received = 2026-02-01T00:00:00Z
size = 7
read = false
has_attachments = true

[[mailbox.inbox]]
subject = "Same minute as generated item 0"
received = 2026-01-01T00:00:00Z
size = 8
read = true

[[mailbox.inbox]]
subject = "no date"
sender_name = "Nobody"

[[mailbox.inbox]]
subject = "ancient"
received = 1999-12-31T23:59:00Z
'''
CONFIG = f'''
[[mailbox]]
smtp = "probe@contoso.test"
username = "probe"
password = "{PASSWORD}"
legacy_dn = "{RULER_DN}"
generate_items = {GENERATED}
''' + DECLARED

Row = tuple[object, ...]


@pytest.fixture(scope="module")
def big() -> Iterator[Emulator]:
    with Emulators() as start:
        yield start(CONFIG)


@pytest.fixture
def session(big: Emulator) -> Iterator[tuple[Mapi, int]]:
    with Mapi(client(), big.mapi_url("probe@contoso.test")) as mapi:
        mapi.connect()
        _, logon = mapi.logon()
        yield mapi, logon


@pytest.fixture(scope="module")
def items() -> list[InboxItem]:
    """Every item of CONFIG's Inbox, in folder order, as plain objects."""
    return list(loads(CONFIG).mailboxes[0].inbox)


def expected_row(item: InboxItem) -> Row:
    """The probe's columns for ``item`` (None: the cell is ecNotFound)."""
    flags = None if item.read is None else (
        (1 if item.read else 0) | (0x10 if item.has_attachments else 0))
    received = None if item.received is None else datetime_to_filetime(item.received)
    return (item.subject, received, item.sender_name, item.size, flags)


def naive(items: Sequence[InboxItem], *keys: tuple[Callable[[InboxItem], object], bool]
          ) -> list[int]:
    """Folder positions after a full stable sort by ``keys`` (first key first); a missing
    value (None) sorts before every present one, as MAPI's NULL."""
    order = list(range(len(items)))
    for key, descending in reversed(keys):
        def full(n: int, key: Callable[[InboxItem], object] = key) -> tuple[int, object]:
            value = key(items[n])
            return (0, 0) if value is None else (1, value)
        order.sort(key=full, reverse=descending)
    return order


def got_rows(response: RopQueryRowsResponse) -> list[Row]:
    return [tuple(c.value if isinstance(c, PropertyValue) else None for c in row.cells)
            for row in response.rows]


def open_table(orders: Sequence[SortOrder], count: int = 5) -> list[RopRequest]:
    rops: list[RopRequest] = [
        RopOpenFolderRequest(0, 0, 1, INBOX, 0),
        RopGetContentsTableRequest(0, 1, 2, TABLE_FLAG_USE_UNICODE),
        RopSetColumnsRequest(0, 2, 0, COLUMNS)]
    if orders:
        rops.append(RopSortTableRequest(0, 2, 0, 0, 0, tuple(orders)))
    return [*rops, RopQueryRowsRequest(0, 2, 0, 1, count)]


NEWEST_FIRST = (SortOrder(DELIVERY, SORT_DESCENDING),)
PROBE_ROPS = [*open_table(NEWEST_FIRST), RopReleaseRequest(0, 2), RopReleaseRequest(0, 1)]


def received(item: InboxItem) -> object:
    return item.received


def test_generated_items_are_the_documented_ones(items: list[InboxItem]) -> None:
    assert len(items) == GENERATED + 4
    first, last = items[4], items[-1]
    assert first == InboxItem(subject="Generated message 0", sender_name="Load Generator",
                              sender_email="load@contoso.com", size=2048, read=True,
                              received=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert last == InboxItem(subject="Generated message 99999", sender_name="Load Generator",
                             sender_email="load@contoso.com", size=2048 + 99999, read=False,
                             received=datetime(2025, 10, 23, 13, 21, tzinfo=timezone.utc))


def test_the_probes_request_reads_the_newest_five_of_a_naive_sort(
        session: tuple[Mapi, int], items: list[InboxItem]) -> None:
    mapi, logon = session
    response, _ = mapi.execute(PROBE_ROPS, [logon, NO_HANDLE, NO_HANDLE], columns=COLUMNS)
    table, query = response.rops[1], response.rops[4]
    assert isinstance(table, RopGetContentsTableResponse)
    assert table.row_count == GENERATED + 4
    assert isinstance(query, RopQueryRowsResponse)
    newest = naive(items, (received, True))[:5]
    assert newest == [0, 1, 4, 5, 6]  # the tie at 2026-01-01 keeps folder order
    assert got_rows(query) == [expected_row(items[n]) for n in newest]
    assert query.origin == 0x01  # BOOKMARK_CURRENT: more rows follow


def test_another_session_gets_the_same_bytes(big: Emulator) -> None:
    bodies = []
    for _ in range(3):  # the second and third are served from the cached order and rows
        with Mapi(client(), big.mapi_url("probe@contoso.test")) as mapi:
            mapi.connect()
            _, logon = mapi.logon()
            _, answer = mapi.execute(PROBE_ROPS, [logon, NO_HANDLE, NO_HANDLE],
                                     columns=COLUMNS)
            bodies.append(answer.body)
            mapi.disconnect()
    assert bodies[0] == bodies[1] == bodies[2]


def test_pages_continue_forward_and_backward(session: tuple[Mapi, int],
                                             items: list[InboxItem]) -> None:
    mapi, logon = session
    order = naive(items, (received, True))
    rops = [*open_table(NEWEST_FIRST, 3), RopQueryRowsRequest(0, 2, 0, 1, 4),
            RopQueryRowsRequest(0, 2, 0x01, 0, 2),  # NoAdvance, backwards
            RopQueryRowsRequest(0, 2, 0, 0, 2)]  # backwards, moving the cursor
    response, _ = mapi.execute(rops, [logon, NO_HANDLE, NO_HANDLE], columns=COLUMNS)
    pages = [got_rows(r) for r in response.rops[4:]
             if isinstance(r, RopQueryRowsResponse)]
    assert pages == [[expected_row(items[n]) for n in order[:3]],
                     [expected_row(items[n]) for n in order[3:7]],
                     [expected_row(items[n]) for n in order[6:4:-1]],
                     [expected_row(items[n]) for n in order[6:4:-1]]]


def test_the_end_of_the_table(session: tuple[Mapi, int], items: list[InboxItem]) -> None:
    mapi, logon = session
    order = naive(items, (received, True))
    ascending = (SortOrder(DELIVERY, SORT_ASCENDING),)
    response, _ = mapi.execute(open_table(ascending, 3), [logon, NO_HANDLE, NO_HANDLE],
                               columns=COLUMNS)
    query = response.rops[-1]
    assert isinstance(query, RopQueryRowsResponse)
    oldest = naive(items, (received, False))[:3]
    assert oldest == [2, 3, len(items) - 1]  # no date (NULL) first, then 1999, then gen. last
    assert got_rows(query) == [expected_row(items[n]) for n in oldest]
    assert order[-1] == 2  # and newest first ends with the item without a date


@pytest.mark.parametrize("orders", [
    (SortOrder(SUBJECT, SORT_ASCENDING),),
    (SortOrder(SUBJECT, SORT_DESCENDING),),
    (SortOrder(FLAGS_TAG, SORT_DESCENDING), SortOrder(DELIVERY, SORT_ASCENDING)),
    (SortOrder(0x0E080003, SORT_DESCENDING),),  # size
], ids=["subject-asc", "subject-desc", "flags-desc-then-oldest", "size-desc"])
def test_other_sort_orders(session: tuple[Mapi, int], items: list[InboxItem],
                           orders: tuple[SortOrder, ...]) -> None:
    mapi, logon = session
    getters: dict[int, Callable[[InboxItem], object]] = {
        SUBJECT: lambda i: None if i.subject is None else i.subject.casefold(),
        DELIVERY: received, 0x0E080003: lambda i: i.size,
        FLAGS_TAG: lambda i: expected_row(i)[4]}
    order = naive(items, *((getters[o.property_tag], o.order == SORT_DESCENDING)
                           for o in orders))
    response, _ = mapi.execute(open_table(orders, 6), [logon, NO_HANDLE, NO_HANDLE],
                               columns=COLUMNS)
    query = response.rops[-1]
    assert isinstance(query, RopQueryRowsResponse)
    assert got_rows(query) == [expected_row(items[n]) for n in order[:6]]


def test_sorting_twice_sorts_the_sorted_table(session: tuple[Mapi, int],
                                              items: list[InboxItem]) -> None:
    """A second RopSortTable is a stable sort of the table's current order."""
    mapi, logon = session
    by_flags = RopSortTableRequest(0, 2, 0, 0, 0, (SortOrder(FLAGS_TAG, SORT_ASCENDING),))
    rops = [*open_table(NEWEST_FIRST, 0)[:-1], by_flags, RopQueryRowsRequest(0, 2, 0, 1, 4)]
    response, _ = mapi.execute(rops, [logon, NO_HANDLE, NO_HANDLE], columns=COLUMNS)
    order = naive(items, (lambda i: expected_row(i)[4], False), (received, True))
    query = response.rops[-1]
    assert isinstance(query, RopQueryRowsResponse)
    assert got_rows(query) == [expected_row(items[n]) for n in order[:4]]


def test_open_message_finds_every_generated_id(session: tuple[Mapi, int]) -> None:
    mapi, logon = session

    def mid(position: int) -> int:
        return int.from_bytes(b"\x01\x00" + (0x10001 + position).to_bytes(6, "big"), "little")
    rops: list[RopRequest] = [RopOpenMessageRequest(0, 0, 1, 0, INBOX, 0, mid(n))
                              for n in (0, GENERATED + 3, GENERATED + 4, -1)]
    rops.append(RopOpenMessageRequest(0, 0, 1, 0, INBOX, 0, mid(0) ^ 0x3))
    got = rops_bytes(mapi, rops, [logon, NO_HANDLE])

    def opened(subject: str) -> str:  # [MS-OXCROPS] 2.2.6.1.2, no recipients
        return ("03 01 00000000 00 01 04" + (subject + "\0").encode("utf-16-le").hex()
                + "0000 0000 00")  # HasNamedProperties, SubjectPrefix empty, Subject UTF-16
    assert got == bytes.fromhex(
        opened("Newest of all (declared)")  # the first item
        + opened(f"Generated message {GENERATED - 1}")  # the last generated item
        + "03 01 0f010480"   # one past the end: ecNotFound
        "03 01 0f010480"   # before the first
        "03 01 0f010480")  # another replica id


def test_generated_items_read_as_a_tuple() -> None:
    inbox = loads(CONFIG.replace(f"generate_items = {GENERATED}", "generate_items = 3")
                  ).mailboxes[0].inbox
    assert isinstance(inbox, LazyTuple)
    eager = tuple(inbox[n] for n in range(len(inbox)))
    assert len(eager) == 7 and tuple(inbox) == eager
    assert inbox[-1] == eager[6] and inbox[2:6] == eager[2:6] and inbox[::-2] == eager[::-2]
    assert [i.subject for i in inbox[4:]] == [f"Generated message {n}" for n in range(3)]
    with pytest.raises(IndexError):
        inbox[7]
    with pytest.raises(IndexError):
        inbox[-8]
    assert inbox == loads(CONFIG.replace(f"generate_items = {GENERATED}",
                                         "generate_items = 3")).mailboxes[0].inbox


def test_cached_orders_and_rows_are_evicted_correctly(monkeypatch: pytest.MonkeyPatch) -> None:
    """More sort histories and rows than the caches hold: answers stay those of a full sort."""
    monkeypatch.setattr("check_mapi.emulator.store.MAX_CACHED_ORDERS", 3)
    monkeypatch.setattr("check_mapi.emulator.store.MAX_CACHED_ROWS", 2)
    mailbox = loads(CONFIG.replace(f"generate_items = {GENERATED}", "generate_items = 50")
                    ).mailboxes[0]
    contents = build_store(mailbox).inbox.contents
    items = list(mailbox.inbox)
    size, subject, delivery = 0x0E08, 0x0037, 0x0E06
    histories = [((size, True),), ((subject, False),), ((delivery, True),),
                 ((size, True), (delivery, False)), ((subject, True), (size, False))]
    getters: dict[int, Callable[[InboxItem], object]] = {
        size: lambda i: i.size, delivery: received,
        subject: lambda i: None if i.subject is None else i.subject.casefold()}
    for _ in range(2):
        for steps in histories:
            want = naive(items, *((getters[pid], desc) for pid, desc in reversed(steps)))
            assert list(contents.order(steps)) == want
            for n in want[:3]:
                made, encoded = contents.row(n, COLUMNS, 1252)
                assert tuple(c.value if isinstance(c, PropertyValue) else None
                             for c in made.cells) == expected_row(items[n])
                assert contents.row(n, COLUMNS, 1252)[1] == encoded


def test_generate_items_has_an_upper_bound(tmp_path: Path) -> None:
    def generating(count: int) -> str:
        return CONFIG.replace(f"generate_items = {GENERATED}", f"generate_items = {count}")
    mailbox = loads(generating(MAX_GENERATED_ITEMS)).mailboxes[0]
    assert MAX_GENERATED_ITEMS == 1_000_000 and len(mailbox.inbox) == 1_000_004
    assert len(build_store(mailbox).inbox.contents) == 1_000_004
    too_many = generating(1_000_001)
    with pytest.raises(ConfigError) as caught:
        loads(too_many)
    assert str(caught.value) == "mailbox[0].generate_items: must be at most 1000000"
    path = tmp_path / "emulator.toml"
    path.write_text(too_many, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "check_mapi.emulator", "--config", str(path),
                          "--listen", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == "emulator: mailbox[0].generate_items: must be at most 1000000\n"


@pytest.mark.parametrize("n", [0, 1, 2, 59, 60, 99_999, 999_999])
def test_generated_sort_keys_are_the_items_own(n: int) -> None:
    """The sort keys made without the item (generated_filetime, generated_size) are the
    item's own values: the first sort at 100 000 items relies on it."""
    from check_mapi.emulator.items import generated, generated_filetime, generated_size

    item = generated(n)
    assert item.received is not None
    assert generated_filetime(n) == datetime_to_filetime(item.received)
    assert generated_size(n) == item.size
