"""The :class:`~check_mapi.emulator.Emulator` methods that drive its identity provider from a
test or ``check_mapi --demo``: what a person (or an administrator) would do in Entra.

Each raises RuntimeError when the configuration has no ``[identity]`` section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import App
    from .idp import IdentityProvider


class IdentityHooks:
    app: App

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _identity(self) -> IdentityProvider:
        if self.app.identity is None:
            raise RuntimeError("the emulator's configuration has no [identity] section")
        return self.app.identity

    @property
    def authority(self) -> str:
        """The msal authority of the identity provider: ``<url>/<tenant>``."""
        return f"{self.url}/{self._identity().settings.tenant}"

    def approve_device_code(self, user_code: str, smtp: str) -> None:
        """Sign in as mailbox ``smtp`` on the device-login page with ``user_code`` (also
        ``POST /_emulator/device/approve``). KeyError: unknown code or mailbox; ValueError:
        the code has expired."""
        self._identity().grants.approve(user_code, smtp)

    def pending_device_codes(self) -> list[str]:
        """User codes of device logins waiting for approval."""
        return self._identity().grants.pending()

    def revoke_refresh_tokens(self, smtp: str) -> int:
        """Revoke the refresh tokens issued so far to ``smtp`` (AADSTS50173 from now on, like
        Revoke-MgUserSignInSession; also ``POST /_emulator/identity/revoke``); returns how
        many were still valid. KeyError: no such mailbox."""
        return self._identity().grants.revoke(smtp)

    def advance_identity_clock(self, seconds: float) -> None:
        """Move the identity provider's clock forward (token issue and expiry, device codes,
        and the Bearer check's idea of "now"), to expire things without waiting."""
        self._identity().grants.offset += seconds
