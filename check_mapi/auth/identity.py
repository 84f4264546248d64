"""The mailbox address in the headers that name it: ``X-AnchorMailbox`` (Autodiscover) and
``X-User-Identity`` (MAPI requests).

Both are routing hints Exchange does without (the address is also in the POX body, as
UTF-8 XML, and in the emsmdb URL's MailboxId), and an HTTP header carries ASCII only. An
internationalized address (RFC 6531) is sent with its domain in IDNA form (punycode, as DNS
and Exchange's accepted domains know it); one whose local part is not ASCII is not sent as
a hint at all, rather than as bytes Exchange would read as Latin-1 and route wrongly.
"""

from __future__ import annotations


def header_address(address: str) -> str | None:
    """``address`` as a header value, or None when it cannot be one."""
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    if not local.isascii() or not all(" " < c <= "~" for c in local):
        return None
    if domain and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:  # not a valid internationalized domain name
            return None
    if not all(" " < c <= "~" for c in domain):
        return None
    return f"{local}{at}{domain}"
