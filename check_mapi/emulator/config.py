"""The emulator's configuration: TOML -> frozen dataclasses, validated with one-line errors.

Every error names the key it is about (``mailbox[1].fault[0].step: ...``) and unknown keys
are refused, so that a typo does not silently turn a fault off. The format is documented
by :func:`check_mapi.emulator.example.example_config`, which a test loads.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..wire import ErrorCode
from .faults import Fault, fault_steps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

AUTH_METHODS = ("negotiate", "ntlm", "basic", "bearer")
DEFAULT_DEPLOYMENT_ID = uuid.UUID("30c3a927-42aa-5de8-91e3-8e5b4655ed00")
ADMIN_GROUP = "Exchange Administrative Group (FYDIBOHF23SPDLT)"


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


@dataclass(frozen=True, slots=True)
class Mailbox:
    smtp: str
    username: str
    password: str | None
    tokens: tuple[str, ...]
    display_name: str
    legacy_dn: str
    guid: uuid.UUID
    mapi_http_enabled: bool | None  # Set-CASMailbox -MapiHttpEnabled ($null = None)
    block_external: bool  # Set-CASMailbox -MapiBlockOutlookExternalConnectivity
    redirect_addr: str | None
    redirect_url: str | None
    inbox: tuple[InboxItem, ...]
    faults: tuple[Fault, ...]

    @property
    def domain(self) -> str:
        return self.smtp.rpartition("@")[2]

    @property
    def mailbox_id(self) -> str:
        """The ``MailboxId`` query value of this mailbox's MAPI/HTTP URLs."""
        return f"{self.guid}@{self.domain}"

    @property
    def dn_prefix(self) -> str:
        """The LegacyDN up to its first ``/cn=`` (Connect DnPrefix)."""
        cut = self.legacy_dn.lower().find("/cn=")
        return self.legacy_dn if cut < 0 else self.legacy_dn[:cut]


@dataclass(frozen=True, slots=True)
class ServerFacts:
    version: str = "15.02.1544.004"
    backend_server: str = "EXMBX01.contoso.com"
    frontend_server: str = "EXCAS01"
    database: str = "DB01"
    organization: str = "Contoso"
    internal_url: str | None = None  # base URL; None = the emulator's own URL
    external_url: str | None = None
    pending_period_ms: int = 30000
    session_expiration_ms: int = 900000
    xor_responses: bool = False
    deployment_id: uuid.UUID = DEFAULT_DEPLOYMENT_ID
    microsoft_online: bool = False
    idle_connection_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class AuthSettings:
    methods: tuple[str, ...] = ("negotiate", "ntlm", "basic")
    require_channel_binding: bool = False
    realm: str | None = None
    domain: str | None = None
    bearer_client_id: str | None = None
    bearer_trusted_issuers: str | None = None
    bearer_authorization_uri: str | None = None


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    server: ServerFacts
    auth: AuthSettings
    organization_mapi_http_enabled: bool  # Set-OrganizationConfig -MapiHttpEnabled
    mailboxes: tuple[Mailbox, ...]

    def by_smtp(self, address: str) -> Mailbox | None:
        wanted = address.strip().lower()
        return next((m for m in self.mailboxes if m.smtp.lower() == wanted), None)

    def by_identity(self, identity: str) -> Mailbox | None:
        """The mailbox an authenticated identity (SMTP, UPN, user or DOMAIN\\user) owns."""
        wanted = identity.strip().lower()
        user = wanted.rpartition("\\")[2]
        for m in self.mailboxes:
            if wanted in (m.smtp.lower(), m.username.lower()) or user == m.username.lower():
                return m
        return None

    def by_mailbox_id(self, guid_text: str) -> Mailbox | None:
        try:
            guid = uuid.UUID(guid_text.strip().strip("{}"))
        except ValueError:
            return None
        return next((m for m in self.mailboxes if m.guid == guid), None)


class _Table:
    """A TOML table with its dotted path, for one-line errors; tracks unused keys."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must be a table")
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise ConfigError(f"{self.key(name)}: expected {_kind_name(kind)}, "
                              f"got {type(value).__name__}")
        return value

    def require(self, name: str, kind: type | tuple[type, ...]) -> Any:
        if name not in self.data:
            raise ConfigError(f"{self.key(name)}: missing")
        return self.get(name, kind)

    def tables(self, name: str) -> list[_Table]:
        self.used.add(name)
        items = self.data.get(name, [])
        if not isinstance(items, list):
            raise ConfigError(f"{self.key(name)}: must be an array of tables ([[{name}]])")
        return [_Table(item, f"{self.key(name)}[{n}]") for n, item in enumerate(items)]

    def sub(self, name: str) -> _Table:
        self.used.add(name)
        return _Table(self.data.get(name, {}), self.key(name))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: unknown key")


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
             list: "an array", datetime: "a date-time"}
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))


def _positive(t: _Table, name: str, default: int, minimum: int = 1) -> int:
    value: int = t.get(name, int, default)
    if value < minimum:
        raise ConfigError(f"{t.key(name)}: must be at least {minimum}")
    return value


def _error_code(t: _Table, name: str) -> int | None:
    value = t.get(name, (int, str))
    if value is None or isinstance(value, int):
        if value is not None and not 0 <= value <= 0xFFFFFFFF:
            raise ConfigError(f"{t.key(name)}: {value} is not a 32-bit error code")
        return value
    try:
        return int(ErrorCode[value])
    except KeyError:
        raise ConfigError(f"{t.key(name)}: unknown error code name {value!r} "
                          "(use a name like ecLoginFailure or a number)") from None


def _guid(t: _Table, name: str, default: uuid.UUID) -> uuid.UUID:
    text = t.get(name, str)
    if text is None:
        return default
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(f"{t.key(name)}: {text!r} is not a GUID") from None


def _moment(t: _Table, name: str) -> datetime | None:
    value = t.get(name, (datetime, date, str))
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{t.key(name)}: {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _fault(t: _Table) -> Fault:
    step = t.require("step", str)
    steps = fault_steps()
    if step not in steps:
        raise ConfigError(f"{t.key('step')}: {step!r} is not one of {', '.join(steps)}")
    status = t.get("http_status", int)
    if status is not None and not 100 <= status <= 599:
        raise ConfigError(f"{t.key('http_status')}: {status} is not an HTTP status")
    fault = Fault(
        step=step, latency_ms=_positive(t, "latency_ms", 0, 0), http_status=status,
        retry_after=t.get("retry_after", int), response_code=t.get("response_code", int),
        status_code=_error_code(t, "status_code"), error_code=_error_code(t, "error_code"),
        rop_error=_error_code(t, "rop_error"), wrong_server=t.get("wrong_server", str),
        truncate_body=t.get("truncate_body", bool, False),
        drop_connection=t.get("drop_connection", bool, False),
        pending_forever=t.get("pending_forever", bool, False),
        malformed_xml=t.get("malformed_xml", bool, False),
        redirect_loop=t.get("redirect_loop", bool, False),
        times=_positive(t, "times", 0, 0))
    t.done()
    return fault


def _item(t: _Table) -> InboxItem:
    item = InboxItem(
        subject=t.get("subject", str), sender_name=t.get("sender_name", str),
        sender_email=t.get("sender_email", str), received=_moment(t, "received"),
        size=t.get("size", int), read=t.get("read", bool),
        message_class=t.get("message_class", str),
        has_attachments=t.get("has_attachments", bool), importance=t.get("importance", int))
    if item.size is not None and not 0 <= item.size <= 0x7FFFFFFF:
        raise ConfigError(f"{t.key('size')}: must be 0..2147483647")
    t.done()
    return item


def _generated(count: int) -> tuple[InboxItem, ...]:
    """``generate_items = N``: N plain messages for benchmarks, newest first."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    return tuple(InboxItem(
        subject=f"Generated message {n}", sender_name="Load Generator",
        sender_email="load@contoso.com", received=datetime.fromtimestamp(base - 60 * n,
                                                                         timezone.utc),
        size=2048 + n, read=n % 2 == 0) for n in range(count))


def _tristate(t: _Table, name: str) -> bool | None:
    value = t.get(name, (bool, str))
    if isinstance(value, str):
        if value.lower() not in ("null", "$null"):
            raise ConfigError(f"{t.key(name)}: expected true, false or \"null\"")
        return None
    return value  # type: ignore[no-any-return]


def _mailbox(t: _Table, organization: str) -> Mailbox:
    smtp: str = t.require("smtp", str)
    local, at, domain = smtp.partition("@")
    if not (local and at and domain) or "@" in domain or any(c.isspace() for c in smtp):
        raise ConfigError(f"{t.key('smtp')}: {smtp!r} is not an SMTP address")
    guid = _guid(t, "mailbox_guid", uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{smtp.lower()}"))
    legacy_dn = t.get("legacy_dn", str) or (
        f"/o={organization}/ou={ADMIN_GROUP}/cn=Recipients/cn={guid.hex}-{local}")
    if not legacy_dn.isascii() or not legacy_dn.startswith("/o="):
        raise ConfigError(f"{t.key('legacy_dn')}: must be ASCII and start with /o=")
    tokens = t.get("tokens", list, [])
    if not all(isinstance(x, str) and x for x in tokens):
        raise ConfigError(f"{t.key('tokens')}: must be an array of non-empty strings")
    items = tuple(_item(i) for i in t.tables("inbox")) + _generated(
        _positive(t, "generate_items", 0, 0))
    mailbox = Mailbox(
        smtp=smtp, username=t.get("username", str, local), password=t.get("password", str),
        tokens=tuple(tokens), display_name=t.get("display_name", str, local),
        legacy_dn=legacy_dn, guid=guid, mapi_http_enabled=_tristate(t, "mapi_http_enabled"),
        block_external=t.get("mapi_block_outlook_external_connectivity", bool, False),
        redirect_addr=t.get("redirect_addr", str), redirect_url=t.get("redirect_url", str),
        inbox=items, faults=tuple(_fault(f) for f in t.tables("fault")))
    t.done()
    return mailbox


def _server(t: _Table) -> ServerFacts:
    d = ServerFacts()
    facts = ServerFacts(
        version=t.get("version", str, d.version),
        backend_server=t.get("backend_server", str, d.backend_server),
        frontend_server=t.get("frontend_server", str, d.frontend_server),
        database=t.get("database", str, d.database),
        organization=t.get("organization", str, d.organization),
        internal_url=t.get("internal_url", str), external_url=t.get("external_url", str),
        pending_period_ms=_positive(t, "pending_period_ms", d.pending_period_ms),
        session_expiration_ms=_positive(t, "session_expiration_ms", d.session_expiration_ms),
        xor_responses=t.get("xor_responses", bool, d.xor_responses),
        deployment_id=_guid(t, "deployment_id", d.deployment_id),
        microsoft_online=t.get("microsoft_online", bool, d.microsoft_online),
        idle_connection_timeout_s=float(t.get("idle_connection_timeout_s", (int, float),
                                              d.idle_connection_timeout_s)))
    for name in ("internal_url", "external_url"):
        url = getattr(facts, name)
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{t.key(name)}: {url!r} is not an http(s) URL")
    t.done()
    return facts


def _auth(t: _Table) -> AuthSettings:
    methods = t.get("methods", list, list(AuthSettings().methods))
    for method in methods:
        if method not in AUTH_METHODS:
            raise ConfigError(f"{t.key('methods')}: {method!r} is not one of "
                              f"{', '.join(AUTH_METHODS)}")
    if not methods:
        raise ConfigError(f"{t.key('methods')}: must name at least one method")
    settings = AuthSettings(
        methods=tuple(methods),
        require_channel_binding=t.get("require_channel_binding", bool, False),
        realm=t.get("realm", str), domain=t.get("domain", str),
        bearer_client_id=t.get("bearer_client_id", str),
        bearer_trusted_issuers=t.get("bearer_trusted_issuers", str),
        bearer_authorization_uri=t.get("bearer_authorization_uri", str))
    t.done()
    return settings


def parse_config(data: Mapping[str, object]) -> EmulatorConfig:
    """Validate an already parsed TOML document."""
    root = _Table(dict(data), "")
    server = _server(root.sub("server"))
    org = root.sub("organization")
    org_enabled = org.get("mapi_http_enabled", bool, True)
    org.done()
    mailboxes = tuple(_mailbox(t, server.organization) for t in root.tables("mailbox"))
    if not mailboxes:
        raise ConfigError("mailbox: at least one [[mailbox]] is needed")
    _unique(mailboxes)
    config = EmulatorConfig(server, _auth(root.sub("auth")), org_enabled, mailboxes)
    root.done()
    return config


def _unique(mailboxes: tuple[Mailbox, ...]) -> None:
    for attr in ("smtp", "guid", "legacy_dn"):
        seen: set[str] = set()
        for n, m in enumerate(mailboxes):
            value = str(getattr(m, attr)).lower()
            if value in seen:
                raise ConfigError(f"mailbox[{n}].{attr}: {value!r} is used twice")
            seen.add(value)


def loads(text: str) -> EmulatorConfig:
    """Parse configuration text (TOML)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}") from None
    return parse_config(data)


def load(path: str | Path) -> EmulatorConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    return loads(text)
