"""A built-in identity provider standing in for Microsoft Entra ID, for the real msal library.

It serves, on the emulator's own host and port, under a tenant path (the configured tenant
name, its GUID, a mailbox domain, ``organizations`` or ``common``), what msal 1.39 asks for:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (tenant discovery; an unknown tenant
  answers 400 ``invalid_tenant`` AADSTS90002, as Entra does) and
  ``GET /{tenant}/discovery/v2.0/keys`` (the JWKS of the provider's signing key);
- ``GET /common/discovery/instance`` (instance discovery, when msal is given this URL as
  ``instance_discovery``) and ``GET /common/userrealm/{upn}`` (``Managed`` for the tenant's
  domains, ``Unknown`` otherwise), which msal's password grant asks first;
- ``POST /{tenant}/oauth2/v2.0/devicecode`` and ``POST /{tenant}/oauth2/v2.0/token``
  (:mod:`.idp_grants`); errors are Entra-shaped JSON (``error``, ``error_description``
  starting ``AADSTSnnnnn:`` and ending with trace/correlation id and timestamp,
  ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``).

Emulator-only endpoints: ``GET /_emulator/device`` (the device-login page a person can use),
``POST /_emulator/device/approve`` (``user_code``, ``smtp``) and
``POST /_emulator/identity/revoke`` (``smtp``), form-encoded or JSON.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .config import EmulatorConfig
from .idp_grants import Endpoints, Grants
from .idp_tokens import IdpError, Signer, check_bearer, utc_text
from .reply import Reply, Request
from .stats import Stats

DEVICE_PAGE = "/_emulator/device"
_ADMIN = {"_emulator/device": "device_page", "_emulator/device/approve": "device_approve",
          "_emulator/identity/revoke": "revoke"}
_TENANT_PATHS: dict[tuple[str, ...], str] = {
    ("v2.0", ".well-known", "openid-configuration"): "openid_configuration",
    ("discovery", "v2.0", "keys"): "keys",
    ("oauth2", "v2.0", "devicecode"): "devicecode",
    ("oauth2", "v2.0", "token"): "token"}
_POST_ONLY = ("devicecode", "token")
_MULTI_TENANT = ("common", "organizations")


def _reply(status: int, body: Mapping[str, Any], trace: str | None = None) -> Reply:
    headers = (("Content-Type", "application/json; charset=utf-8"),
               ("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
               ("x-ms-request-id", trace or str(uuid.uuid4())))
    return Reply(status, headers, json.dumps(body).encode())


def _form(req: Request) -> dict[str, str]:
    """The body's parameters: form-encoded (what OAuth clients send) or a JSON object."""
    kind = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    try:
        text = req.body.decode("utf-8")
        if kind == "application/json":
            data = json.loads(text)
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return dict(reversed(parse_qsl(text, keep_blank_values=True)))
    except ValueError:  # UnicodeDecodeError, JSONDecodeError
        return {}


class IdentityProvider:
    """The ``[identity]`` endpoints of one emulator and the Bearer check of its Exchange side."""

    def __init__(self, config: EmulatorConfig, stats: Stats) -> None:
        assert config.identity is not None
        self.settings = settings = config.identity
        self.config, self.stats = config, stats
        self.signer = Signer()
        self.grants = Grants(config, settings, self.signer)
        self.domains = {settings.tenant, *(m.domain.lower() for m in config.mailboxes)}
        self.aliases = {*self.domains, str(settings.tenant_id), *_MULTI_TENANT}

    # -- routing -----------------------------------------------------------------------------

    def serves(self, path: str) -> str | None:
        """"identity", "identity_admin" (not counted as a request) or None."""
        parts = tuple(unquote(path).strip("/").split("/"))
        lower = tuple(p.lower() for p in parts)
        if "/".join(lower) in _ADMIN:
            return "identity_admin"
        if lower == ("common", "discovery", "instance") or (
                len(lower) == 3 and lower[:2] == ("common", "userrealm")):
            return "identity"
        if len(parts) == 4 and lower[1:] in _TENANT_PATHS:
            return "identity"
        return None

    def handle(self, req: Request) -> Reply:
        parts = tuple(unquote(req.path).strip("/").split("/"))
        lower = tuple(p.lower() for p in parts)
        if "/".join(lower) in _ADMIN:
            kind = _ADMIN["/".join(lower)]
            self.stats.identity(kind)
            return self._admin(kind, req)
        if lower[:2] == ("common", "userrealm"):
            kind = "userrealm"
        elif lower[:2] == ("common", "discovery"):
            kind = "instance_discovery"
        else:
            kind = _TENANT_PATHS[lower[1:]]
        self.stats.identity(self._label(kind, req))
        wrong_method = self._wrong_method(kind, req)
        if wrong_method is not None:
            return wrong_method
        try:
            if kind == "userrealm":
                return _reply(200, self._user_realm(parts[2]))
            if kind == "instance_discovery":
                return self._instance_discovery(req)
            return self._tenant_endpoint(kind, parts[0], req)
        except IdpError as err:
            return self._error(err, req)

    def _wrong_method(self, kind: str, req: Request) -> Reply | None:
        if kind not in _POST_ONLY:
            return None if req.method == "GET" else _reply(405, {"error": "method_not_allowed"})
        if req.method == "POST":
            return None
        return self._error(IdpError("invalid_request", 900561, "The endpoint only accepts POST, "
                                    f"OPTIONS requests. Received a {req.method} request."), req)

    @staticmethod
    def _label(kind: str, req: Request) -> str:
        """The ``identity_requests`` counter: the endpoint, for the token endpoint its grant."""
        if kind != "token":
            return kind
        grant = _form(req).get("grant_type", "")
        grant = "device_code" if grant == "urn:ietf:params:oauth:grant-type:device_code" else grant
        known = ("password", "device_code", "refresh_token", "client_credentials")
        return f"token:{grant if grant in known else 'other'}"

    # -- discovery ---------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> str:
        """The tenant segment endpoints use: the GUID, or common/organizations as given."""
        if tenant.lower() not in self.aliases:
            raise IdpError("invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to "
                           "make sure you have the correct tenant ID and are signing into the "
                           "correct cloud. Check with your subscription administrator, this may "
                           "happen if there are no active subscriptions for the tenant.")
        return tenant.lower() if tenant.lower() in _MULTI_TENANT else str(self.settings.tenant_id)

    def _endpoints(self, req: Request) -> Endpoints:
        base = req.base_url
        token_urls = {f"{base}/{alias}/oauth2/{v}token"
                      for alias in self.aliases for v in ("v2.0/", "")}
        return Endpoints(f"{base}/{self.settings.tenant_id}/v2.0", token_urls,
                         f"{base}{DEVICE_PAGE}")

    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        tid = self._tenant(tenant)
        issuer_tid = "{tenantid}" if tid in _MULTI_TENANT else tid
        root = f"{base}/{tid}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{issuer_tid}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                 "preferred_username", "name", "tid", "ver", "at_hash",
                                 "c_hash", "email"],
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com",
        }

    def _user_realm(self, upn: str) -> dict[str, Any]:
        domain = upn.rpartition("@")[2].lower()
        if domain not in self.domains:
            return {"ver": "1.0", "account_type": "Unknown",
                    "cloud_instance_name": "microsoftonline.com"}
        return {"ver": "1.0", "account_type": "Managed", "domain_name": domain,
                "cloud_instance_name": "microsoftonline.com",
                "cloud_audience_urn": "urn:federation:MicrosoftOnline"}

    def _instance_discovery(self, req: Request) -> Reply:
        # msal names the authority's host without its port (``Authority.instance``)
        url = urlsplit(req.query.get("authorization_endpoint", ""))
        own = urlsplit(req.base_url)
        if url.scheme != "https" or (url.hostname or "") != (own.hostname or "").lower():
            raise IdpError("invalid_instance", 50049, "Unknown or invalid instance.")
        tenant = url.path.strip("/").split("/")[0] or "common"
        host = own.hostname or own.netloc
        return _reply(200, {
            "tenant_discovery_endpoint":
                f"{req.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host,
                          "aliases": [host]}]})

    def _tenant_endpoint(self, kind: str, tenant: str, req: Request) -> Reply:
        self._tenant(tenant)
        if kind == "openid_configuration":
            return _reply(200, self.openid_configuration(req.base_url, tenant))
        if kind == "keys":
            return _reply(200, self.signer.jwks())
        form = _form(req)
        if kind == "devicecode":
            return _reply(200, self.grants.start_device_flow(form, self._endpoints(req)))
        _, body = self.grants.token(form, self._endpoints(req))
        return _reply(200, body)

    def _error(self, err: IdpError, req: Request) -> Reply:
        self.stats.identity_error(err.code)
        trace = str(uuid.uuid4())
        correlation = req.header("client-request-id") or str(uuid.uuid4())
        stamp = utc_text(self.grants.now())
        body: dict[str, Any] = {
            "error": err.error,
            "error_description": f"AADSTS{err.code}: {err.message}\r\nTrace ID: {trace}\r\n"
                                 f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [err.code], "timestamp": stamp, "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{req.base_url}/error?code={err.code}"}
        if err.suberror:
            body["suberror"] = err.suberror
        body.update(err.extra)
        return _reply(err.status, body, trace)

    # -- Exchange's side, and the emulator's own hooks -----------------------------------------

    def check_bearer(self, token: str) -> tuple[str | None, str]:
        """(SMTP address, "") for a valid delegated MAPI token; (None, x-ms-diagnostics)."""
        return check_bearer(self.signer, self.settings, self.config.mailboxes, token,
                            self.grants.now())

    def _admin(self, kind: str, req: Request) -> Reply:
        if req.method != ("GET" if kind == "device_page" else "POST"):
            return _reply(405, {"error": "method_not_allowed"})
        if kind == "device_page":
            return self._device_page()
        form = _form(req)
        names = ("user_code", "smtp") if kind == "device_approve" else ("smtp",)
        absent = [n for n in names if not form.get(n, "").strip()]
        if absent:
            return _reply(400, {"error": f"missing parameter {absent[0]}"})
        try:
            if kind == "device_approve":
                body: dict[str, Any] = {"approved": form["user_code"].strip().upper(),
                                        "smtp": self.grants.approve(form["user_code"],
                                                                    form["smtp"])}
            else:
                body = {"smtp": form["smtp"].strip(), "revoked": self.grants.revoke(form["smtp"])}
        except KeyError as err:
            return _reply(404, {"error": str(err.args[0])})
        except ValueError as err:
            return _reply(410, {"error": str(err)})
        return _reply(200, body)

    def _device_page(self) -> Reply:
        codes = ", ".join(self.grants.pending()) or "none"
        users = "".join(f'<option value="{html.escape(m.smtp)}">{html.escape(m.smtp)}</option>'
                        for m in self.config.mailboxes)
        page = (f"<!DOCTYPE html><html><head><title>Device login (check_mapi emulator)</title>"
                f"</head><body><h1>Enter code</h1><p>Pending: {html.escape(codes)}</p>"
                f'<form method="post" action="{DEVICE_PAGE}/approve">'
                f'<input name="user_code" autofocus> <select name="smtp">{users}</select> '
                f'<button type="submit">Sign in</button></form></body></html>')
        return Reply(200, (("Content-Type", "text/html; charset=utf-8"),
                           ("Cache-Control", "no-store")), page.encode())
