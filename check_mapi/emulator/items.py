"""The items of the emulator's folders: declared ones (``[[mailbox.inbox]]`` ...) and the
generated ones of ``generate_items = N`` (plain messages for benchmarks, newest first),
with the sort keys of generated items computed without making them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

GENERATED_BASE = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One message of the Inbox; a field left out is a property the item does not have."""

    subject: str | None = None
    sender_name: str | None = None
    sender_email: str | None = None
    received: datetime | None = None
    size: int | None = None
    read: bool | None = None
    message_class: str | None = "IPM.Note"
    has_attachments: bool | None = None
    importance: int | None = None



def generated(n: int) -> InboxItem:
    """Item ``n`` of ``generate_items = N``: plain messages for benchmarks, newest first."""
    received = datetime.fromtimestamp(GENERATED_BASE - 60 * n, timezone.utc)
    return InboxItem(subject=f"Generated message {n}", sender_name="Load Generator",
                     sender_email="load@contoso.com", received=received,
                     size=generated_size(n), read=n % 2 == 0)


# The sort keys of generated items without making them (the first sort of 100 000 items
# took 0.7 s, most of it building items): FILETIME is 100 ns since 1601-01-01.
_FILETIME_OF_BASE = (int(GENERATED_BASE) + 11_644_473_600) * 10_000_000


def generated_filetime(n: int) -> int:
    """The FILETIME of item ``n``'s ``received`` (as ``datetime_to_filetime`` gives it)."""
    return _FILETIME_OF_BASE - 600_000_000 * n


def generated_size(n: int) -> int:
    return 2048 + n
