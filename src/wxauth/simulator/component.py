"""The simulator's Open Platform: third-party platforms and merchants' authorizations.

A platform (``SimPlatform``) gets a ``component_verify_ticket`` pushed every ten minutes
(valid 12 hours), turns it into component_access_tokens (7200 s; like /cgi-bin/token, each
call issues a new one and the previous one stays valid five more minutes), creates pre-auth
codes (1800 s, reusable until then) and redeems authorization codes (3600 s, single use) for
the authorizer's tokens. Authorizer access tokens live in :class:`WxaState`, so the /wxa/
paths accept them as WeChat does. Authorizing again rotates the refresh token; withdrawing
the authorization invalidates it and the authorizer's tokens.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import httpx

from wxauth.errors import InvalidEncodingAESKey
from wxauth.simulator.wxa import GRACE_S, TokenGrant, WxaState
from wxauth.wechat.component_crypto import MessageCrypto, aes_key

TICKET_TTL_S = 12 * 3600
TICKET_INTERVAL_S = 600.0
COMPONENT_TOKEN_TTL_S = 7200
PREAUTH_CODE_TTL_S = 1800
AUTH_CODE_TTL_S = 3600
# Permission-set ids a merchant grants by default (account, development, customer service...).
DEFAULT_FUNC_INFO = (17, 18, 19, 25, 30, 31)

OK = 0
TOKEN_MISSING = 41001
TOKEN_INVALID = 40001
TOKEN_EXPIRED = 42001
TICKET_EXPIRED = 61005
TICKET_INVALID = 61006
AUTH_CODE_INVALID = 61009
AUTH_CODE_EXPIRED = 61010


@dataclass(frozen=True, slots=True)
class SimPlatform:
    """A third-party platform as registered on the Open Platform.

    ``push_url`` is its authorization event URL (None: nothing is pushed); ``allowed_ips``
    its API allow list (empty: any caller; otherwise others get 61004).
    """

    component_appid: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    push_url: str | None = None
    ticket_interval_s: float = TICKET_INTERVAL_S
    allowed_ips: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        aes_key(self.encoding_aes_key)  # refuse a bad key when configured, not when pushing

    @classmethod
    def parse(cls, spec: str, *, ticket_interval_s: float = TICKET_INTERVAL_S) -> SimPlatform:
        """``APPID:SECRET:TOKEN:ENCODINGAESKEY`` with an optional ``:PUSH_URL`` after it."""
        parts = spec.split(":", 4)
        if len(parts) < 4 or not all(parts[:4]):
            raise ValueError("a platform is given as APPID:SECRET:TOKEN:ENCODINGAESKEY[:PUSH_URL]")
        appid, secret, token, key = parts[:4]
        push_url = parts[4] if len(parts) == 5 and parts[4] else None
        try:
            return cls(appid, secret, token, key, push_url, ticket_interval_s)
        except InvalidEncodingAESKey:
            raise ValueError("the EncodingAESKey must be 43 base64 characters") from None

    def crypto(self) -> MessageCrypto:
        return MessageCrypto(self.token, self.encoding_aes_key, self.component_appid)


@dataclass(slots=True)
class Grant:
    """A ticket, pre-auth code or authorization code, issued to one platform."""

    component_appid: str
    issued_at: float
    authorizer_appid: str = ""
    used: bool = False


@dataclass(slots=True)
class SimAuthorization:
    component_appid: str
    authorizer_appid: str
    func_info: tuple[int, ...]
    refresh_token: str = field(repr=False)
    access_tokens: list[str] = field(default_factory=list, repr=False)  # the newest two
    active: bool = True


def _secret(prefix: str) -> str:
    return f"{prefix}@@@{secrets.token_urlsafe(32)}"


class ComponentState:
    def __init__(
        self,
        platforms: list[SimPlatform],
        wxa: WxaState,
        *,
        push_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.platforms = {p.component_appid: p for p in platforms}
        self.wxa = wxa
        self.push_transport = push_transport  # None: pushes go over the network
        self.tickets: dict[str, Grant] = {}
        self.tokens: dict[str, TokenGrant] = {}
        self.newest_token: dict[str, str] = {}
        self.preauth_codes: dict[str, Grant] = {}
        self.auth_codes: dict[str, Grant] = {}
        self.authorizations: dict[tuple[str, str], SimAuthorization] = {}

    # -- tickets and component tokens -------------------------------------------------------

    def issue_ticket(self, component_appid: str, now: float) -> str:
        ticket = _secret("ticket")
        self.tickets[ticket] = Grant(component_appid, now)
        return ticket

    def check_ticket(self, component_appid: str, ticket: str, now: float) -> int:
        grant = self.tickets.get(ticket)
        if grant is None or grant.component_appid != component_appid:
            return TICKET_INVALID
        return TICKET_EXPIRED if now - grant.issued_at > TICKET_TTL_S else OK

    def issue_token(self, component_appid: str, now: float) -> tuple[str, int]:
        previous = self.tokens.get(self.newest_token.get(component_appid, ""))
        if previous is not None:
            previous.valid_until = min(previous.valid_until, now + GRACE_S)
        token = "sim_cat_" + secrets.token_urlsafe(48)
        expires_at = now + COMPONENT_TOKEN_TTL_S
        self.tokens[token] = TokenGrant(component_appid, expires_at, expires_at)
        self.newest_token[component_appid] = token
        return token, COMPONENT_TOKEN_TTL_S

    def check_token(self, token: str, now: float) -> tuple[int, str | None]:
        """(errcode, component_appid) for a presented component_access_token."""
        if not token:
            return TOKEN_MISSING, None
        grant = self.tokens.get(token)
        if grant is None:
            return TOKEN_INVALID, None
        if now >= grant.expires_at:
            return TOKEN_EXPIRED, grant.appid
        if now >= grant.valid_until:
            return TOKEN_INVALID, grant.appid
        return OK, grant.appid

    def revoke_tokens(self, component_appid: str) -> None:
        """Make every component_access_token of the platform "not the latest" (for tests)."""
        for grant in self.tokens.values():
            if grant.appid == component_appid:
                grant.valid_until = 0.0

    # -- authorization ----------------------------------------------------------------------

    def issue_preauth_code(self, component_appid: str, now: float) -> tuple[str, int]:
        code = _secret("preauthcode")
        self.preauth_codes[code] = Grant(component_appid, now)
        return code, PREAUTH_CODE_TTL_S

    def preauth_code_valid(self, component_appid: str, code: str, now: float) -> bool:
        grant = self.preauth_codes.get(code)
        return (
            grant is not None
            and grant.component_appid == component_appid
            and now - grant.issued_at <= PREAUTH_CODE_TTL_S
        )

    def authorization(self, component_appid: str, authorizer_appid: str) -> SimAuthorization | None:
        """The active authorization of ``authorizer_appid`` to the platform, if any."""
        found = self.authorizations.get((component_appid, authorizer_appid))
        return found if found is not None and found.active else None

    def authorize(
        self,
        component_appid: str,
        authorizer_appid: str,
        func_info: tuple[int, ...],
        now: float,
        *,
        rotate: bool = True,
    ) -> tuple[str, bool]:
        """The merchant (re)authorizes: (a new authorization code, whether it is an update).

        ``rotate`` (the authorization page) replaces the refresh token; an update of the
        granted permissions alone keeps it.
        """
        current = self.authorization(component_appid, authorizer_appid)
        if current is None:
            current = SimAuthorization(
                component_appid, authorizer_appid, func_info, _secret("refreshtoken")
            )
            self.authorizations[(component_appid, authorizer_appid)] = current
            update = False
        else:
            current.func_info = func_info
            if rotate:
                current.refresh_token = _secret("refreshtoken")
            update = True
        code = _secret("queryauthcode")
        self.auth_codes[code] = Grant(component_appid, now, authorizer_appid)
        return code, update

    def unauthorize(self, component_appid: str, authorizer_appid: str) -> bool:
        current = self.authorization(component_appid, authorizer_appid)
        if current is None:
            return False
        current.active = False
        for token in current.access_tokens:
            if (grant := self.wxa.grants.get(token)) is not None:
                grant.valid_until = 0.0
        return True

    def redeem_auth_code(
        self, component_appid: str, code: str, now: float
    ) -> tuple[int, SimAuthorization | None]:
        grant = self.auth_codes.get(code)
        if grant is None or grant.component_appid != component_appid or grant.used:
            return AUTH_CODE_INVALID, None
        if now - grant.issued_at > AUTH_CODE_TTL_S:
            return AUTH_CODE_EXPIRED, None
        current = self.authorization(component_appid, grant.authorizer_appid)
        if current is None:
            return AUTH_CODE_INVALID, None
        grant.used = True
        return OK, current

    def issue_authorizer_token(
        self, authorization: SimAuthorization, now: float
    ) -> tuple[str, int]:
        previous = authorization.access_tokens[-1] if authorization.access_tokens else None
        token, expires_in = self.wxa.issue_delegated(authorization.authorizer_appid, previous, now)
        # The one before stays valid a few minutes (and is revoked with the authorization).
        authorization.access_tokens = [*authorization.access_tokens[-1:], token]
        return token, expires_in
