"""The error family of check_mapi: every class carries the Nagios state it stands for.

Standard library only, so that the pure ``wire`` codec may import it.
"""

from __future__ import annotations

import enum


class ServiceState(enum.IntEnum):
    """Monitoring Plugins return codes (the exit code is the state)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class MapiError(Exception):
    """Base of every anticipated failure; ``str()`` is a one-line operator message."""

    state: ServiceState = ServiceState.CRITICAL
    server_text: str = ""  # what an error page said, for the long output only


class ConfigError(MapiError):
    """Bad arguments, contradictory options, unreadable secret files."""

    state = ServiceState.UNKNOWN


class TokenStoreError(MapiError):
    """The OAuth token store is unusable: its file is corrupt (log in again), or another
    check held its lock until this check's deadline (``locked``)."""

    state = ServiceState.CRITICAL

    def __init__(self, message: str, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


class ProtocolError(MapiError):
    """The server answered, but not as [MS-OXCMAPIHTTP] says it must."""


class DecodeError(ProtocolError):
    """Bytes that do not decode as the structure they claim to be.

    ``offset`` is the position in the decoded buffer where decoding failed.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.message} at offset {self.offset} (0x{self.offset:X})"


class EncodeError(ProtocolError):
    """A value the wire format cannot carry (a LegacyDN outside ASCII, a length beyond a
    16-bit field): refused before a byte is sent. Callers validate what they can explain
    better (the CLI, Autodiscover's LegacyDN); this is the codec's own safety net."""


class TransportError(MapiError):
    """No usable HTTP exchange: DNS, TCP, TLS, proxy, connection dropped."""


class TransportTimeoutError(TransportError):
    """A request did not complete within its share of the check's time budget."""


class HttpStatusError(ProtocolError):
    """An HTTP status other than 200 where MAPI/HTTP answers 200 ([MS-OXCMAPIHTTP] 2.2.2.2)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ProtocolError):
    """The credentials were refused: HTTP 401 after the handshake or 403 (``status``), or
    by an identity provider before any request reached the server (no status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ResponseCodeError(ProtocolError):
    """X-ResponseCode is not 0 ([MS-OXCMAPIHTTP] 2.2.3.3.3)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class MapiCallError(ProtocolError):
    """A Connect/Execute/Disconnect body reports StatusCode or ErrorCode != 0."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class RopError(ProtocolError):
    """A ROP's ReturnValue is not 0 ([MS-OXCROPS] 2.2.1)."""

    def __init__(self, message: str, rop_id: int, code: int) -> None:
        super().__init__(message)
        self.rop_id = rop_id
        self.code = code
