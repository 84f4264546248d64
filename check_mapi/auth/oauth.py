"""Exchange Online: a delegated OAuth token for the monitored mailbox, without a human.

Only Microsoft's Office public client holds the delegated MAPI permission, so the token
is the mailbox user's own (auth.md section 00). Set up once by hand with
``--oauth-login`` (a device code: MFA works), which keeps msal's cache (the refresh token)
in the private token store. Every check then:

1. reads the store and uses the access token if it is valid for another minute: no msal,
   no identity provider (msal costs ~0.2 s to import);
2. else, in the timed ``token`` step, refreshes silently through msal, over the probe's
   own transport (proxy, TLS, deadline), and writes the store back, under its lock, so
   that concurrent checks of one identity refresh once.

``--auth oauth-password`` uses the username/password grant instead: deprecated by
Microsoft (msal warns; the warning never reaches the output), refused under MFA or
Conditional Access and for federated users without password hash sync.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Generator
from typing import Any

import httpx

from ..deadline import Deadline
from ..errors import AuthError, MapiError
from ..settings import EXO_SCOPE, AuthSpec
from .basic import refuse_plain_token
from .msal_http import MsalHttp
from .report import AuthReport
from .store import TokenStore, identity_key

MARGIN = 60.0  # an access token closer than this to its expiry is refreshed first
LOGIN_HINT = "log in again: check_mapi --oauth-login -m {mailbox}"


class OAuthAuth(httpx.Auth):
    """Bearer with a token from the store, or from msal in the ``token`` step."""

    def __init__(self, spec: AuthSpec, mailbox: str, state_dir: str) -> None:
        self.spec, self.mailbox = spec, mailbox
        self.user = spec.username or mailbox
        self.tenant = spec.tenant or mailbox.rpartition("@")[2] or "organizations"
        self.authority = f"https://{spec.authority_host}/{self.tenant}"
        self.store = TokenStore(state_dir, identity_key(self.authority, spec.client_id,
                                                        self.user))
        self.report = AuthReport(used="OAuth", identity=self.user)
        self._token: str | None = None
        self.expires: float | None = None

    # -- the token ---------------------------------------------------------------------

    def cached(self, now: float | None = None) -> bool:
        """A stored access token still valid for a while: no network, no msal."""
        found = self.store.access_token(now or time.time(), MARGIN)
        if found is None:
            return False
        self._token, self.expires = found
        return True

    def acquire(self, transport: Any, deadline: Deadline) -> None:
        """The ``token`` step: refresh (or the password grant) through msal.

        msal is imported before the store's lock is taken: its import (~0.2 s, seconds on
        a loaded host) would otherwise be spent holding the lock every other check of
        this identity waits for (they fail when their share of ``-t`` runs out). The
        import is local set-up, left out of the step's time like the NTLM library's.
        """
        began = time.monotonic()
        import msal  # noqa: F401 - loaded here, used by application()

        self.report.setup += time.monotonic() - began
        with self.store.locked(deadline):
            if self.cached():  # another check refreshed while this one waited
                return
            record = self.store.read() or {}
            if self.spec.method == "oauth" and not record.get("cache"):
                raise AuthError(self._no_login())  # nothing to refresh
            app, cache = application(self.spec, self.authority, transport, deadline,
                                      record.get("cache"))
            result = self._silent(app) if self.spec.method == "oauth" else self._password(app)
            self.keep(result, cache, record)

    def _silent(self, app: Any) -> dict[str, Any]:
        accounts = app.get_accounts(username=self.user)
        if not accounts:
            raise AuthError(self._no_login())
        result: dict[str, Any] | None = app.acquire_token_silent_with_error(
            [EXO_SCOPE], accounts[0], force_refresh=True)
        if result is None:
            raise AuthError(f"the token store has no refresh token for {self.user}: "
                            f"{LOGIN_HINT.format(mailbox=self.mailbox)}")
        return result

    def _no_login(self) -> str:
        return (f"no OAuth login for {self.user} in the token store {self.store.path}: "
                f"{LOGIN_HINT.format(mailbox=self.mailbox)}")

    def _password(self, app: Any) -> dict[str, Any]:
        if self.spec.secret is None:
            raise AuthError("--auth oauth-password needs the mailbox password")
        with warnings.catch_warnings():  # msal's ROPC DeprecationWarning: -v says it
            warnings.simplefilter("ignore", DeprecationWarning)
            result: dict[str, Any] = app.acquire_token_by_username_password(
                self.user, self.spec.secret.value, [EXO_SCOPE])
        return result

    def keep(self, result: dict[str, Any], cache: Any, record: dict[str, Any],
             method: str | None = None) -> None:
        """msal's answer into the store (with msal's cache); AuthError for a refusal, its
        text for ``method`` (default: this flow's)."""
        if "access_token" not in result:
            raise AuthError(refused_text(result, method or self.spec.method, self.mailbox))
        self._token = str(result["access_token"])
        self.expires = time.time() + float(result.get("expires_in", 0))
        record.update(cache=cache.serialize(), access_token=self._token,
                      expires_on=self.expires, refreshed_at=time.time())
        self.store.write(record)

    # -- httpx.Auth ---------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                             None]:
        self.report.start()
        if self._token is None:  # the probe runs cached() or acquire() first: a bug
            raise AuthError("no OAuth access token")
        refuse_plain_token(request.url)
        self.report.legs = 1
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:  # never a token, whatever logs the object
        return f"OAuthAuth({self.user!r})"


def application(spec: AuthSpec, authority: str, transport: Any, deadline: Deadline,
                 serialized: str | None) -> tuple[Any, Any]:
    """msal's public client, its cache loaded from the store."""
    import msal

    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(serialized)
    host = spec.authority_host
    try:
        app = msal.PublicClientApplication(
            spec.client_id, authority=authority, token_cache=cache,
            http_client=MsalHttp(transport, deadline, host),
            instance_discovery=not _private_authority(host))
    except MapiError:
        raise
    except ValueError as err:  # msal's own word on a bad authority
        raise AuthError(f"identity provider {host}: {err}") from None
    return app, cache


def _private_authority(host: str) -> bool:
    """Not one of Microsoft's clouds: msal must not ask Microsoft to validate it."""
    name = host.split(":", maxsplit=1)[0].lower()
    return not name.endswith(("microsoftonline.com", "microsoftonline.us",
                              "chinacloudapi.cn", "microsoftonline.de"))


def refused_text(result: dict[str, Any], method: str, mailbox: str) -> str:
    """One line from msal's error answer (AADSTS code first line), with what to do."""
    error = str(result.get("error") or "error")
    first = str(result.get("error_description") or "").strip().splitlines()
    detail = first[0].split(". ", 1)[0].rstrip(".") if first else error  # the first sentence
    if method == "oauth" and error in ("invalid_grant", "interaction_required"):
        return (f"the identity provider refused the stored refresh token ({detail}): "
                f"{LOGIN_HINT.format(mailbox=mailbox)}")
    if error == "interaction_required":
        return (f"the identity provider requires interaction (MFA or Conditional Access: "
                f"{detail}); use --auth oauth with --oauth-login")
    return f"the identity provider refused the token request ({detail})"
