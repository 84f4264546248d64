"""What the autodiscover step did: each request and its answer, the answer used, the cache.

Plain data, for the long output (also after a failure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..values import Value, field

if TYPE_CHECKING:  # annotations only: a --url run never loads the Autodiscover parser
    from ..transport.facts import ConnectionFacts
    from .pox import PoxAnswer


class Attempt(Value):
    """One request of the Autodiscover discovery and what it answered."""

    method: str
    url: str
    answer: str
    # the connection of an answer that was an Autodiscover document (its certificate)
    connection: ConnectionFacts | None = field(default=None, compare=False, repr=False)


class AutodiscoverRecord(Value, frozen=False):
    """What the autodiscover step did, for the long output (also after a failure)."""

    attempts: tuple[Attempt, ...] = ()
    url: str | None = None  # the POX URL that answered
    address: str | None = None  # after redirectAddr
    answer: PoxAnswer | None = None
    cached_age: float | None = None  # seconds, when the answer came from the cache
    cache_notes: tuple[str, ...] = ()
