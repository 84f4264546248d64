"""State shared by every connection of one emulator, routing, and authentication wiring.

Authentication is done per TCP connection by :class:`check_mapi.emulator.auth.ConnectionAuth`
(NTLM and Negotiate bind to the connection), on every request to Autodiscover POX and the
MAPI endpoints (mailbox ``/mapi/emsmdb/`` and address book ``/mapi/nspi/``); Autodiscover
v2 JSON is anonymous, as on Exchange Online, but a Bearer token it is given must be valid.
With an ``[identity]`` section, :class:`.idp.IdentityProvider` serves
its endpoints on the same host and port and its delegated tokens are accepted as Bearer tokens;
its app-only tokens are accepted by the admin API (:mod:`.admin`, ``InvokeCommand``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from . import emsmdb, nspi
from .auth import Account, AuthPolicy, AuthResult, ConnectionAuth
from .autodiscover import Autodiscover
from .config import EmulatorConfig
from .faults import FaultBook
from .reply import Reply, Request, exchange_headers, status_page
from .sessions import Sessions
from .stats import Stats, StatsSnapshot
from .store import build_store

if TYPE_CHECKING:
    from .admin import AdminApi
    from .idp import IdentityProvider

STATS_PATH = "/_emulator/stats"
NSPI_KINDS = {"bind": "nspi:Bind", "unbind": "nspi:Unbind", "ping": "nspi:PING"}  # nspi.py
REQUEST_KINDS = {"connect": "Connect", "execute": "Execute", "disconnect": "Disconnect",
                 "ping": "PING", "notificationwait": "NotificationWait"}


def route(path: str) -> str | None:
    """Which endpoint a path belongs to (IIS matches virtual directories case-insensitively)."""
    lower = path.lower()
    if lower == STATS_PATH:
        return "stats"
    if lower == "/autodiscover/autodiscover.xml":
        return "autodiscover"
    if lower.startswith("/autodiscover/autodiscover.json"):
        return "autodiscover_json"
    if lower in ("/mapi/emsmdb/", "/mapi/emsmdb"):
        return "emsmdb"
    if lower in ("/mapi/nspi/", "/mapi/nspi"):
        return "nspi"
    return None


class App:
    """One emulator's configuration, sessions, counters and endpoints."""

    def __init__(self, config: EmulatorConfig, channel_binding: bytes | None) -> None:
        self.config = config
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.base_url = ""
        self.sessions = Sessions(config.server.session_expiration_ms / 1000, self.stats)
        self._faults = faults = FaultBook()
        stores = {m.smtp.lower(): build_store(m) for m in config.mailboxes}
        known = frozenset(m.legacy_dn.lower() for m in config.mailboxes)
        self.emsmdb = emsmdb.Endpoint(config, self.sessions, stores, faults, self.stats, known)
        self.nspi = nspi.Contexts(config.server.session_expiration_ms / 1000)
        self.autodiscover = Autodiscover(config, faults)
        self.identity: IdentityProvider | None = None
        self.admin: AdminApi | None = None
        if config.identity is not None:  # PyJWT and the key generation only when configured
            from .admin import AdminApi
            from .idp import IdentityProvider

            self.identity = IdentityProvider(config, self.stats)
            self.admin = AdminApi(config, self.identity, faults)
        self._channel_binding = channel_binding
        self._accounts = tuple(Account(m.smtp, m.username, m.password, m.tokens)
                               for m in config.mailboxes)
        settings = config.auth
        optional = {"realm": settings.realm, "domain": settings.domain,
                    "bearer_client_id": settings.bearer_client_id,
                    "bearer_trusted_issuers": settings.bearer_trusted_issuers,
                    "bearer_authorization_uri": settings.bearer_authorization_uri}
        self._policy = AuthPolicy(
            methods=settings.methods, require_channel_binding=settings.require_channel_binding,
            server_name=settings.server_name or config.server.frontend_server,
            dns_domain=settings.dns_domain, refuse_ntlmv1=settings.refuse_ntlmv1,
            **{k: v for k, v in optional.items() if v is not None})

    def new_connection_auth(self) -> ConnectionAuth:
        check = self.identity.check_bearer if self.identity is not None else None
        return ConnectionAuth(self._policy, self._accounts, self._channel_binding, check)

    def route(self, path: str) -> str | None:
        """:func:`route`, then the identity provider's paths (``identity``, ``identity_admin``)
        and the admin API's (``adminapi``)."""
        where = route(path)
        if where is None and self.identity is not None:
            if path.lower().startswith("/adminapi/"):
                return "adminapi"
            return self.identity.serves(path)
        return where

    @staticmethod
    def counted(where: str | None) -> bool:
        """False for the emulator's own hooks under ``/_emulator/`` (the counters, the device
        page, revocation): tests read and drive the emulator through them, so they are counted
        nowhere, neither in ``requests`` nor in ``http_statuses``."""
        return where not in ("stats", "identity_admin")

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot(self.sessions.open_count())

    def request_kind(self, where: str | None, headers: Mapping[str, str]) -> str:
        if where == "emsmdb":
            kind = headers.get("x-requesttype", "").strip().lower()
            return REQUEST_KINDS.get(kind, "emsmdb_other")
        if where == "nspi":
            kind = headers.get("x-requesttype", "").strip().lower()
            return NSPI_KINDS.get(kind, "nspi_other")
        return where or "other"

    def challenge(self, result: AuthResult, close: bool = False) -> Reply:
        """The 401 of Exchange's front end: one WWW-Authenticate per method, empty body.

        ``close``: a ``close_after_challenge`` fault; ``Connection: close`` makes the server
        close the connection once the 401 is sent.
        """
        self.stats.bump("auth_challenges")
        headers = (*result.headers, ("Cache-Control", "private"),
                   ("Content-Length", "0"), *exchange_headers(self.config.server))
        return Reply(401, (*headers, ("Connection", "close")) if close else headers,
                     fault=close)

    def closes_after_challenge(self, where: str | None, req: Request) -> bool:
        """True when a ``close_after_challenge`` fault takes this unauthenticated request.

        Only for ``connect`` (mailbox from ``MailboxId``) and ``autodiscover`` (mailbox from
        the POX body): the steps whose mailbox is known before authentication.
        """
        if where == "emsmdb" and (req.header("X-RequestType") or "").strip().lower() == "connect":
            step = "connect"
            mailbox_id = next((v for k, v in req.query.items() if k.lower() == "mailboxid"), "")
            mailbox = self.config.by_mailbox_id(mailbox_id.partition("@")[0])
        elif where == "autodiscover":
            step, mailbox = "autodiscover", self.autodiscover.mailbox_of(req.body)
        else:
            return False
        return mailbox is not None and self._faults.take(
            mailbox.faults, step, at_challenge=True) is not None

    def dispatch(self, where: str | None, req: Request) -> Reply:
        if where == "stats":
            body = json.dumps(self.snapshot().to_json(), sort_keys=True).encode()
            return Reply(200, (("Content-Type", "application/json"),
                               ("Cache-Control", "no-store")), body)
        if where == "autodiscover":
            return self.autodiscover.handle(req)
        if where == "autodiscover_json":
            return self._autodiscover_json(req)
        if where in ("emsmdb", "nspi"):
            return (emsmdb.handle(req, self.emsmdb) if where == "emsmdb"
                    else nspi.handle(req, self.emsmdb, self.nspi))
        if where in ("identity", "identity_admin", "adminapi") and self.identity is not None:
            return self._identity(where, req)
        return status_page(404, self.config.server, fault=False)

    def _identity(self, where: str, req: Request) -> Reply:
        """The identity provider's endpoints, or the admin API its app-only tokens reach."""
        assert self.identity is not None
        if where == "adminapi" and self.admin is not None:
            return self.admin.handle(req)
        return self.identity.handle(req)

    def _autodiscover_json(self, req: Request) -> Reply:
        if req.method != "GET":
            return status_page(405, self.config.server, fault=False)
        return self.autodiscover.handle_json(req)

    @staticmethod
    def with_auth_headers(reply: Reply, result: AuthResult | None) -> Reply:
        """A final NTLM/Negotiate leg may carry a token for the client (mutual auth)."""
        if result is None or not result.headers:
            return reply
        return replace(reply, headers=reply.headers + result.headers)
