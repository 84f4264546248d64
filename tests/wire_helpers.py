"""Shared helpers for the codec tests: vector loading and the h11-style prefix check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from check_mapi.errors import DecodeError

VECTORS = Path(__file__).parent / "vectors"


def vector(name: str) -> bytes:
    """Bytes of a vector under tests/vectors: .hex files are hex text with # comments."""
    path = VECTORS / name
    if path.suffix == ".bin":
        return path.read_bytes()
    lines = path.read_text().splitlines()
    return bytes.fromhex(" ".join(ln for ln in lines if not ln.startswith("#")))


def assert_every_prefix_fails(decode: Callable[[bytes], object], data: bytes) -> None:
    """Every strict prefix of a valid message is refused with DecodeError."""
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut])


def assert_trailing_junk_fails(decode: Callable[[bytes], object], data: bytes) -> None:
    with pytest.raises(DecodeError, match="trailing"):
        decode(data + b"\x00")
