"""The users' session_keys, encrypted at rest with the :class:`~wxauth.core.keyring.Keyring`."""

from __future__ import annotations

import logging

from wxauth.core.keyring import Keyring
from wxauth.core.models import User
from wxauth.core.ports import Store
from wxauth.errors import KeyringError, SessionKeyStale

log = logging.getLogger(__name__)


class SessionKeys:
    """Reads and decrypts the newest session_key stored for a user."""

    def __init__(self, *, store: Store, keyring: Keyring) -> None:
        self._store = store
        self._keyring = keyring
        self._told = False

    def __repr__(self) -> str:
        return "SessionKeys(<hidden>)"

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def encrypt(self, session_key: str) -> str:
        return self._keyring.encrypt(session_key)

    async def session_key(self, user: User) -> str | None:
        """The decrypted session_key; None when none is stored; :class:`KeyringError` when
        none of the at-rest keys opens it."""
        ciphertext = await self._store.get_session_key(user.appid, user.openid)
        return None if ciphertext is None else self._keyring.decrypt(ciphertext)

    async def usable(self, user: User) -> str:
        """The session_key for verifying data from the phone, or :class:`SessionKeyStale`.

        A key the at-rest keys cannot open (``WXAUTH_SECRET_KEYS`` lost the key it was
        written under) is as good as stale for the user: the next login stores a fresh one
        under today's key. The operator hears of it once per process, in the log.
        """
        try:
            session_key = await self.session_key(user)
        except KeyringError:
            if not self._told:
                self._told = True
                log.error(
                    "a stored session_key cannot be decrypted with WXAUTH_SECRET_KEYS: the key "
                    "it was written under is missing (keep old keys after the new one until "
                    "`wxauth keys rotate` has run); affected users must log in again"
                )
            session_key = None
        if session_key is None:
            raise SessionKeyStale()
        return session_key
