"""Session Contexts of the mailbox endpoint ([MS-OXCMAPIHTTP] 3.2.1, 3.2.5.1, 3.2.6).

A Session Context is created by Connect and named by the ``MapiContext`` cookie; the
``MapiSequence`` cookie changes on every Execute. A context that sees no request for
``session_expiration_ms`` expires (the idle timer of 3.2.6): it stays counted as open until
then, which is how a test notices a client that never disconnected.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from .config import Mailbox
from .objects import ObjectTable
from .stats import Stats
from .store import MailboxStore


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


@dataclass(slots=True)
class Session:
    context: str
    identity: str
    mailbox: Mailbox
    store: MailboxStore
    code_page: int
    sequence: str = field(default_factory=new_cookie_value)
    objects: ObjectTable = field(default_factory=ObjectTable)
    last_used: float = field(default_factory=time.monotonic)
    busy: threading.Lock = field(default_factory=threading.Lock)

    def rotate_sequence(self) -> str:
        self.sequence = new_cookie_value()
        return self.sequence


class Sessions:
    """All live Session Contexts of the emulator, thread-safe."""

    def __init__(self, expiration_s: float, stats: Stats) -> None:
        self._expiration_s = expiration_s
        self._stats = stats
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._next_purge = 0.0

    def create(self, identity: str, mailbox: Mailbox, store: MailboxStore,
               code_page: int) -> Session:
        session = Session(new_cookie_value(), identity, mailbox, store, code_page)
        with self._lock:
            self._purge_locked()
            self._sessions[session.context] = session
        self._stats.bump("sessions_created")
        return session

    def get(self, context: str) -> Session | None:
        """The live session named by a MapiContext value (refreshing its idle timer)."""
        now = time.monotonic()
        with self._lock:
            self._purge_locked()
            session = self._sessions.get(context)
            if session is not None and session.last_used < now - self._expiration_s:
                self._purge_locked(force=True)
                return None
            if session is not None:
                session.last_used = now
            return session

    def remove(self, context: str) -> bool:
        """Disconnect (or a reconnect replacing the context)."""
        with self._lock:
            gone = self._sessions.pop(context, None) is not None
        if gone:
            self._stats.bump("sessions_disconnected")
        return gone

    def open_count(self) -> int:
        with self._lock:
            self._purge_locked(force=True)
            return len(self._sessions)

    def _purge_locked(self, force: bool = False) -> None:
        """Drop expired contexts; a full scan at most every 0.1 s unless forced."""
        now = time.monotonic()
        if not force and now < self._next_purge:
            return
        self._next_purge = now + min(0.1, self._expiration_s / 10)
        deadline = now - self._expiration_s
        expired = [c for c, s in self._sessions.items() if s.last_used < deadline]
        for context in expired:
            del self._sessions[context]
        if expired:
            self._stats.bump("sessions_expired", len(expired))
