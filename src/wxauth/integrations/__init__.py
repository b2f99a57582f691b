"""Letting the app's other Python backends check wxauth tokens.

Framework-free pieces live here; each framework has its own module, imported only when
used: :mod:`wxauth.integrations.fastapi`, :mod:`~wxauth.integrations.asgi`,
:mod:`~wxauth.integrations.flask` (extra ``flask``), :mod:`~wxauth.integrations.django`
(extra ``django``).

- :class:`LocalVerifier`: in-process, same database as the service; revocation is immediate.
- :class:`RemoteVerifier`: through ``POST /v1/introspect`` with a short cache; a revoked
  token is refused within ``cache_ttl`` seconds (at most 60).
- :class:`BlockingVerifier`: either of them for synchronous code.
"""

from wxauth.integrations.blocking import BlockingVerifier
from wxauth.integrations.identity import Identity, TokenVerifier, bearer_token
from wxauth.integrations.local import LocalVerifier
from wxauth.integrations.remote import RemoteVerifier
from wxauth.integrations.settings import VerifierSettings

__all__ = [
    "BlockingVerifier",
    "Identity",
    "LocalVerifier",
    "RemoteVerifier",
    "TokenVerifier",
    "VerifierSettings",
    "bearer_token",
]
