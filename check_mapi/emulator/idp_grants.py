"""The identity provider's grants and their state: device codes, refresh tokens, revocation.

Grants of the v2 token endpoint, as Entra answers them: ``password`` (ROPC), ``device_code``
(RFC 8628), ``refresh_token`` (a new refresh token per use; the used one stays valid unless
``reuse_refresh_tokens = false``) and ``client_credentials`` with a certificate assertion
(RFC 7523). Errors are :class:`.idp_tokens.IdpError`; the HTTP layer is :mod:`.idp`.
Thread-safe: one lock around the state.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .config import EmulatorConfig, Mailbox
from .idp_config import IdentitySettings
from .idp_tokens import (
    RESOURCE,
    Grant,
    IdpError,
    Signer,
    access_token,
    app_name,
    client_info,
    id_token,
    utc_text,
    verify_assertion,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RESERVED = frozenset({"openid", "profile", "offline_access", "email"})
RESOURCES = (RESOURCE, "https://outlook.office.com")
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(slots=True)
class DeviceFlow:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    approved_by: str | None = None
    redeemed: bool = False


@dataclass(slots=True)
class RefreshGrant:
    smtp: str
    client_id: str
    scope: str
    amr: tuple[str, ...]
    issued_at: float
    expires_at: float
    used: bool = False


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the request came in: the issuer of ID tokens, the token endpoint URLs a client
    assertion may name as ``aud``, the device login page."""

    issuer: str
    token_audiences: Collection[str]
    verification_uri: str


def missing(name: str) -> IdpError:
    return IdpError("invalid_request", 900144,
                    f"The request body must contain the following parameter: '{name}'.")


class Grants:
    def __init__(self, config: EmulatorConfig, settings: IdentitySettings,
                 signer: Signer) -> None:
        self.config, self.settings, self.signer = config, settings, signer
        self.offset = 0.0  # advance_clock(): tests move the provider's clock forward
        self._lock = threading.Lock()
        self._flows: dict[str, DeviceFlow] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._valid_from: dict[str, float] = {}  # smtp -> TokensValidFrom (revocation)

    def now(self) -> float:
        return time.time() + self.offset

    # -- clients and scopes ----------------------------------------------------------------

    def _client(self, client_id: str, delegated: bool) -> None:
        settings = self.settings
        app = settings.app(client_id)
        if app is None and not settings.is_public_client(client_id):
            raise IdpError("unauthorized_client", 700016, f"Application with identifier "
                           f"'{client_id}' was not found in the directory '{settings.tenant}'. "
                           "This can happen if the application has not been installed by the "
                           "administrator of the tenant or consented to by any user in the "
                           "tenant. You may have sent your authentication request to the wrong "
                           "tenant.")
        if delegated and app is not None:
            raise IdpError("invalid_grant", 65001, f"The user or administrator has not "
                           f"consented to use the application with ID '{client_id}' named "
                           f"'{app.display_name}'. Send an interactive authorization request "
                           "for this user and resource.", suberror="consent_required")

    def _scopes(self, text: str, client_id: str) -> tuple[tuple[str, ...], str]:
        """Delegated scopes granted for a ``scope`` parameter, and the ``scope`` answered."""
        wanted = text.split()
        names: list[str] = []
        default = False
        for scope in wanted:
            if scope.lower() in RESERVED:
                continue
            resource, _, name = scope.rpartition("/")
            if resource.lower() not in RESOURCES:
                raise IdpError("invalid_resource", 500011, f"The resource principal named "
                               f"{resource or 'https://graph.microsoft.com'} was not found in "
                               f"the tenant named {self.settings.tenant}. This can happen if "
                               "the application has not been installed by the administrator "
                               "of the tenant or consented to by any user in the tenant.")
            if name == ".default":
                default = True
                names += self.settings.delegated_scopes
            elif name in self.settings.delegated_scopes:
                names.append(name)
            else:
                raise IdpError("invalid_grant", 65001, f"The user or administrator has not "
                               f"consented to use the application with ID '{client_id}' for "
                               f"the scope '{scope}'.", suberror="consent_required")
        if not names and not default:
            raise IdpError("invalid_scope", 70011, "The provided value for the input parameter "
                           f"'scope' isn't valid. The scope {text!r} isn't valid.")
        granted = tuple(dict.fromkeys(names))
        answer = [f"{RESOURCE}/{n}" for n in granted] + ([f"{RESOURCE}/.default"] * default)
        return granted, " ".join(answer)

    def _user_tokens(self, form: Mapping[str, str], ends: Endpoints, mailbox: Mailbox,
                     scope: str, amr: tuple[str, ...]) -> dict[str, Any]:
        client_id = form["client_id"]
        granted, answered = self._scopes(scope, client_id)
        grant = Grant(client_id, app_name(client_id, None), mailbox, granted, amr=amr)
        now, lifetime = self.now(), self.settings.access_token_seconds
        body: dict[str, Any] = {
            "token_type": "Bearer", "scope": answered, "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token(self.signer, self.settings, grant, now)}
        words = {w.lower() for w in scope.split()}
        if "offline_access" in words:
            token = "1.AQ" + secrets.token_urlsafe(96)
            with self._lock:
                self._refresh[token] = RefreshGrant(
                    mailbox.smtp, client_id, scope, amr, now,
                    now + self.settings.refresh_token_seconds)
            body["refresh_token"] = token
        if "openid" in words:
            body["id_token"] = id_token(self.signer, ends.issuer, self.settings, grant, now)
        if form.get("client_info") == "1":
            body["client_info"] = client_info(self.settings, mailbox)
        return body

    # -- the token endpoint ----------------------------------------------------------------

    def token(self, form: Mapping[str, str], ends: Endpoints) -> tuple[str, dict[str, Any]]:
        """(grant type, token response) or :class:`IdpError`."""
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise missing("grant_type")
        handlers: dict[str, Callable[[Mapping[str, str], Endpoints], dict[str, Any]]] = {
            "password": self._password, DEVICE_GRANT: self._device_code,
            "refresh_token": self._refresh_token, "client_credentials": self._client_credentials}
        handler = handlers.get(grant_type)
        if handler is None:
            raise IdpError("unsupported_grant_type", 70003,
                           f"The app requested an unsupported grant type '{grant_type}'.")
        if not form.get("client_id"):
            raise missing("client_id")
        delegated = grant_type != "client_credentials"
        self._client(form["client_id"], delegated)
        if delegated and (form.get("client_assertion") or form.get("client_secret")):
            raise IdpError("invalid_client", 700025, "Client is public so neither "
                           "'client_assertion' nor 'client_secret' should be presented.", 401)
        return ("device_code" if grant_type == DEVICE_GRANT else grant_type), handler(form, ends)

    def _password(self, form: Mapping[str, str], ends: Endpoints) -> dict[str, Any]:
        for name in ("username", "password", "scope"):
            if not form.get(name):
                raise missing(name)
        mailbox = self.config.by_smtp(form["username"])
        if mailbox is None:
            raise IdpError("invalid_grant", 50034, "The user account {EUII Hidden} does not "
                           f"exist in the {self.settings.tenant} directory. To sign into this "
                           "application, the account must be added to the directory.")
        if mailbox.password is None or not hmac.compare_digest(
                mailbox.password.encode("utf-8", "surrogatepass"),
                form["password"].encode("utf-8", "surrogatepass")):
            raise IdpError("invalid_grant", 50126, "Error validating credentials due to "
                           "invalid username or password.")
        if mailbox.mfa_required:
            raise IdpError("interaction_required", 50076, "Due to a configuration change made "
                           "by your administrator, or because you moved to a new location, you "
                           f"must use multi-factor authentication to access '{RESOURCE}'.",
                           suberror="basic_action")
        return self._user_tokens(form, ends, mailbox, form["scope"], ("pwd",))

    def _device_code(self, form: Mapping[str, str], ends: Endpoints) -> dict[str, Any]:
        code = form.get("device_code", "")
        if not code:
            raise missing("device_code")
        with self._lock:
            flow = self._flows.get(code)
            if flow is None or flow.client_id.lower() != form["client_id"].lower():
                raise IdpError("invalid_grant", 70000, "The provided value for the input "
                               "parameter 'device_code' is not valid.")
            if flow.redeemed:
                raise IdpError("invalid_grant", 54005, "OAuth2 Authorization code was already "
                               "redeemed, please retry with a new valid code or use an "
                               "existing refresh token.")
            if self.now() >= flow.expires_at:
                raise IdpError("expired_token", 70020, "The provided value for the input "
                               "parameter 'device_code' is not valid. This device code has "
                               "expired.")
            if flow.approved_by is None:
                raise IdpError("authorization_pending", 70016, "OAuth 2.0 device flow error. "
                               "Authorization is pending. Continue polling.")
            flow.redeemed = True
            mailbox = self.config.by_smtp(flow.approved_by)
        assert mailbox is not None
        return self._user_tokens(form, ends, mailbox, flow.scope, ("pwd", "mfa"))

    def _refresh_token(self, form: Mapping[str, str], ends: Endpoints) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        if not token:
            raise missing("refresh_token")
        now = self.now()
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.client_id.lower() != form["client_id"].lower() or (
                    grant.used and not self.settings.reuse_refresh_tokens):
                raise IdpError("invalid_grant", 70000, "The provided value for the input "
                               "parameter 'refresh_token' or 'assertion' is not valid.")
            mailbox = self.config.by_smtp(grant.smtp)
            assert mailbox is not None
            valid_from = self._valid_from.get(grant.smtp.lower())
            if mailbox.refresh_tokens_revoked or (
                    valid_from is not None and grant.issued_at <= valid_from):
                raise IdpError("invalid_grant", 50173, "The provided grant has expired due to "
                               "it being revoked, a fresh auth token is needed. The user might "
                               "have changed or reset their password. The grant was issued on "
                               f"'{utc_text(grant.issued_at)}' and the TokensValidFrom date "
                               "(before which tokens are not valid) for this user is "
                               f"'{utc_text(valid_from or grant.issued_at)}'.")
            if now >= grant.expires_at:
                days = (now - grant.issued_at) / 86400
                raise IdpError("invalid_grant", 700082, "The refresh token has expired due to "
                               f"inactivity. The token was issued on {utc_text(grant.issued_at)}"
                               f" and was inactive for {days:.2f} days.")
            grant.used = True
        return self._user_tokens(form, ends, mailbox, form.get("scope") or grant.scope,
                                 grant.amr)

    def _client_credentials(self, form: Mapping[str, str], ends: Endpoints) -> dict[str, Any]:
        client_id = form["client_id"]
        app = self.settings.app(client_id)
        if form.get("client_secret"):
            raise IdpError("invalid_client", 7000215, "Invalid client secret provided. Ensure "
                           "the secret being sent in the request is the client secret value, "
                           f"not the client secret ID, for a secret added to app '{client_id}'.",
                           401)
        assertion = form.get("client_assertion", "")
        if app is None or not assertion or form.get("client_assertion_type") != ASSERTION_TYPE:
            raise IdpError("invalid_client", 7000218, "The request body must contain the "
                           "following parameter: 'client_assertion' or 'client_secret'.", 401)
        verify_assertion(app, assertion, ends.token_audiences, self.now())
        scope = form.get("scope", "")
        if not scope:
            raise missing("scope")
        resource, _, name = scope.strip().rpartition("/")
        if name != ".default" or " " in scope.strip():
            raise IdpError("invalid_scope", 1002012, f"The provided value for scope {scope} is "
                           "not valid. Client credential flows must have a scope value with "
                           "/.default suffixed to the resource identifier (application ID URI).")
        if resource.lower() not in RESOURCES:
            self._scopes(scope, client_id)  # raises invalid_resource
        grant = Grant(client_id, app.display_name, roles=app.roles)
        lifetime = self.settings.access_token_seconds
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": access_token(self.signer, self.settings, grant, self.now())}

    # -- device codes -----------------------------------------------------------------------

    def start_device_flow(self, form: Mapping[str, str], ends: Endpoints) -> dict[str, Any]:
        client_id = form.get("client_id", "")
        if not client_id:
            raise missing("client_id")
        self._client(client_id, delegated=False)
        scope = form.get("scope", "")
        self._scopes(scope, client_id)
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(9))
        lifetime = self.settings.device_code_seconds
        flow = DeviceFlow("DAQABIQEAAAB" + secrets.token_urlsafe(72), user_code, client_id,
                          scope, self.now() + lifetime)
        with self._lock:
            now = self.now()
            for code in [c for c, f in self._flows.items() if f.expires_at + 3600 < now]:
                del self._flows[code]
            self._flows[flow.device_code] = flow
        uri = ends.verification_uri
        return {"user_code": user_code, "device_code": flow.device_code,
                "verification_uri": uri, "expires_in": lifetime,
                "interval": self.settings.device_code_interval,
                "message": f"To sign in, use a web browser to open the page {uri} and enter "
                           f"the code {user_code} to authenticate."}

    def approve(self, user_code: str, smtp: str) -> str:
        """Approve a pending device code as a mailbox user; returns the mailbox's address.
        KeyError: no such pending code or mailbox; ValueError: the code has expired."""
        mailbox = self.config.by_smtp(smtp)
        if mailbox is None:
            raise KeyError(f"no mailbox {smtp}")
        wanted = user_code.strip().upper().replace("-", "")
        with self._lock:
            flow = next((f for f in self._flows.values()
                         if f.user_code == wanted and not f.redeemed), None)
            if flow is None:
                raise KeyError(f"no pending device code {user_code}")
            if self.now() >= flow.expires_at:
                raise ValueError(f"device code {user_code} has expired")
            flow.approved_by = mailbox.smtp
        return mailbox.smtp

    def pending(self) -> list[str]:
        """User codes waiting for approval (not expired)."""
        now = self.now()
        with self._lock:
            return [f.user_code for f in self._flows.values()
                    if f.approved_by is None and now < f.expires_at]

    def revoke(self, smtp: str) -> int:
        """Revoke every refresh token issued so far to a mailbox user (like
        Revoke-MgUserSignInSession); returns how many were valid. KeyError: no such mailbox."""
        mailbox = self.config.by_smtp(smtp)
        if mailbox is None:
            raise KeyError(f"no mailbox {smtp}")
        now = self.now()
        key = mailbox.smtp.lower()
        with self._lock:
            before = self._valid_from.get(key, float("-inf"))
            count = sum(1 for g in self._refresh.values() if g.smtp.lower() == key
                        and g.issued_at > before and now < g.expires_at)
            self._valid_from[key] = now
        return count
