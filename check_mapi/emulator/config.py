"""The emulator's configuration: TOML -> frozen dataclasses, validated with one-line errors.

Every error names the key it is about (``mailbox[1].fault[0].step: ...``) and unknown keys
are refused, so that a typo does not silently turn a fault off. The format is documented
by :func:`check_mapi.emulator.example.example_config`, which a test loads.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path

from ..errors import ConfigError
from ..wire import ErrorCode
from .faults import Fault, fault_steps
from .idp_config import IdentitySettings, parse_identity
from .items import InboxItem, generated
from .tables import LazyTuple, Table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

AUTH_METHODS = ("negotiate", "ntlm", "basic", "bearer")
DEFAULT_DEPLOYMENT_ID = uuid.UUID("30c3a927-42aa-5de8-91e3-8e5b4655ed00")
ADMIN_GROUP = "Exchange Administrative Group (FYDIBOHF23SPDLT)"
MAX_GENERATED_ITEMS = 1_000_000  # 100 000 000 items would take minutes and gigabytes
# [[mailbox.<key>]] arrays of items of default folders other than the Inbox (store.py names them)
OTHER_FOLDERS = ("outbox", "sent", "deleted", "drafts")


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
    inbox: Sequence[InboxItem]  # declared items, then generated ones (made on demand)
    faults: tuple[Fault, ...]
    mfa_required: bool = False  # [identity]: the password grant answers AADSTS50076
    refresh_tokens_revoked: bool = False  # [identity]: every refresh token is refused
    mapi_enabled: bool = True  # Set-CASMailbox -MAPIEnabled (admin API, Exchange Online)
    folders: tuple[tuple[str, tuple[InboxItem, ...]], ...] = ()  # OTHER_FOLDERS key, items

    @property
    def upn(self) -> str:
        """The user principal name of [identity] tokens: the SMTP address."""
        return self.smtp

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
    max_connections: int = 256  # beyond: 503 and close (capped.py)


@dataclass(frozen=True, slots=True)
class AuthSettings:
    methods: tuple[str, ...] = ("negotiate", "ntlm", "basic")
    require_channel_binding: bool = False
    realm: str | None = None
    domain: str | None = None
    server_name: str | None = None  # None: ServerFacts.frontend_server
    dns_domain: str | None = None  # None: from the realm (AuthPolicy.challenge_names)
    refuse_ntlmv1: bool | None = None  # None: as require_channel_binding
    bearer_client_id: str | None = None
    bearer_trusted_issuers: str | None = None
    bearer_authorization_uri: str | None = None


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    server: ServerFacts
    auth: AuthSettings
    organization_mapi_http_enabled: bool  # Set-OrganizationConfig -MapiHttpEnabled
    mailboxes: tuple[Mailbox, ...]
    identity: IdentitySettings | None = None  # the built-in identity provider, if any

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


def _positive(t: Table, name: str, default: int, minimum: int = 1) -> int:
    value: int = t.get(name, int, default)
    if value < minimum:
        raise ConfigError(f"{t.key(name)}: must be at least {minimum}")
    return value


def _error_code(t: Table, name: str) -> int | None:
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


def _guid(t: Table, name: str, default: uuid.UUID) -> uuid.UUID:
    text = t.get(name, str)
    if text is None:
        return default
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(f"{t.key(name)}: {text!r} is not a GUID") from None


def _moment(t: Table, name: str) -> datetime | None:
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


def _fault(t: Table) -> Fault:
    step = t.require("step", str)
    steps = fault_steps()
    if step not in steps:
        raise ConfigError(f"{t.key('step')}: {step!r} is not one of {', '.join(steps)}")
    status = t.get("http_status", int)
    if status is not None and not 100 <= status <= 599:
        raise ConfigError(f"{t.key('http_status')}: {status} is not an HTTP status")
    try:
        fault = _fault_of(t, step, status)
    except ValueError as err:  # Fault's own check of close_after_challenge
        raise ConfigError(f"{t.key('close_after_challenge')}: {err}") from None
    t.done()
    return fault


def _fault_of(t: Table, step: str, status: int | None) -> Fault:
    return Fault(
        step=step, latency_ms=_positive(t, "latency_ms", 0, 0), http_status=status,
        retry_after=t.get("retry_after", int), response_code=t.get("response_code", int),
        status_code=_error_code(t, "status_code"), error_code=_error_code(t, "error_code"),
        rop_error=_error_code(t, "rop_error"), wrong_server=t.get("wrong_server", str),
        truncate_body=t.get("truncate_body", bool, False),
        drop_connection=t.get("drop_connection", bool, False),
        pending_forever=t.get("pending_forever", bool, False),
        malformed_xml=t.get("malformed_xml", bool, False),
        redirect_loop=t.get("redirect_loop", bool, False),
        close_after_challenge=t.get("close_after_challenge", bool, False),
        times=_positive(t, "times", 0, 0))


def _item(t: Table) -> InboxItem:
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


def _tristate(t: Table, name: str) -> bool | None:
    value = t.get(name, (bool, str))
    if isinstance(value, str):
        if value.lower() not in ("null", "$null"):
            raise ConfigError(f"{t.key(name)}: expected true, false or \"null\"")
        return None
    return value  # type: ignore[no-any-return]


def _mailbox(t: Table, organization: str) -> Mailbox:
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
    declared = tuple(_item(i) for i in t.tables("inbox"))
    generate = _positive(t, "generate_items", 0, 0)
    if generate > MAX_GENERATED_ITEMS:
        raise ConfigError(f"{t.key('generate_items')}: must be at most {MAX_GENERATED_ITEMS}")
    items = LazyTuple(declared, generate, generated)
    mailbox = Mailbox(
        smtp=smtp, username=t.get("username", str, local), password=t.get("password", str),
        tokens=tuple(tokens), display_name=t.get("display_name", str, local),
        legacy_dn=legacy_dn, guid=guid, mapi_http_enabled=_tristate(t, "mapi_http_enabled"),
        block_external=t.get("mapi_block_outlook_external_connectivity", bool, False),
        redirect_addr=t.get("redirect_addr", str), redirect_url=t.get("redirect_url", str),
        inbox=items, faults=tuple(_fault(f) for f in t.tables("fault")),
        mfa_required=t.get("mfa_required", bool, False),
        refresh_tokens_revoked=t.get("refresh_tokens_revoked", bool, False),
        mapi_enabled=t.get("mapi_enabled", bool, True),
        folders=tuple((key, tuple(_item(i) for i in t.tables(key))) for key in OTHER_FOLDERS))
    t.done()
    return mailbox


def _server(t: Table) -> ServerFacts:
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
                                              d.idle_connection_timeout_s)),
        max_connections=_positive(t, "max_connections", d.max_connections))
    for name in ("internal_url", "external_url"):
        url = getattr(facts, name)
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{t.key(name)}: {url!r} is not an http(s) URL")
    t.done()
    return facts


def _auth(t: Table) -> AuthSettings:
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
        server_name=_name(t, "server_name"), dns_domain=_name(t, "dns_domain"),
        refuse_ntlmv1=t.get("refuse_ntlmv1", bool),
        bearer_client_id=t.get("bearer_client_id", str),
        bearer_trusted_issuers=t.get("bearer_trusted_issuers", str),
        bearer_authorization_uri=t.get("bearer_authorization_uri", str))
    t.done()
    return settings


def _name(t: Table, key: str) -> str | None:
    """A host or domain name for the NTLM challenge: letters, digits, '-', '.', '_'."""
    value: str | None = t.get(key, str)
    if value is not None and not (
        value.isascii() and value.replace("-", "").replace(".", "").replace("_", "").isalnum()
        and not value.startswith(".") and not value.endswith(".")
    ):
        raise ConfigError(f"{t.key(key)}: {value!r} is not a host or domain name")
    return value


def parse_config(data: Mapping[str, object]) -> EmulatorConfig:
    """Validate an already parsed TOML document."""
    root = Table(dict(data), "")
    server = _server(root.sub("server"))
    org = root.sub("organization")
    org_enabled = org.get("mapi_http_enabled", bool, True)
    org.done()
    mailboxes = tuple(_mailbox(t, server.organization) for t in root.tables("mailbox"))
    if not mailboxes:
        raise ConfigError("mailbox: at least one [[mailbox]] is needed")
    _unique(mailboxes)
    identity = parse_identity(root.sub("identity")) if "identity" in data else None
    for n, m in enumerate(mailboxes):
        for flag in ("mfa_required", "refresh_tokens_revoked"):
            if getattr(m, flag) and identity is None:
                raise ConfigError(f"mailbox[{n}].{flag}: needs an [identity] section")
    config = EmulatorConfig(server, _auth(root.sub("auth")), org_enabled, mailboxes, identity)
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
