"""An emulator configuration of many mailboxes, some with faults, for the many-mailbox tests."""

from __future__ import annotations

PASSWORD = "M4ny-S3ntinel-Pa55!"  # must never appear in any output
DOMAIN = "contoso.com"


def address(n: int) -> str:
    return f"m{n:02d}@{DOMAIN}"


def many_toml(count: int, faults: dict[int, str], items: dict[int, int] | None = None) -> str:
    """``count`` mailboxes m00..; ``faults``: mailbox number -> its [[mailbox.fault]] keys
    (TOML lines); ``items``: mailbox number -> generated Inbox items."""
    parts = ['[server]\npending_period_ms = 200\n[auth]\nmethods = ["basic"]\n']
    for n in range(count):
        parts.append(f'[[mailbox]]\nsmtp = "{address(n)}"\nusername = "m{n:02d}"\n'
                     f'password = "{PASSWORD}"\n')
        if items and n in items:
            parts.append(f"generate_items = {items[n]}\n")
        if n in faults:
            parts.append(f"[[mailbox.fault]]\n{faults[n]}\n")
    return "".join(parts)
