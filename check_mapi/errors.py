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


class ConfigError(MapiError):
    """Bad arguments, contradictory options, unreadable secret files."""

    state = ServiceState.UNKNOWN


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
