"""MySQL's and MariaDB's writes: a login in one transaction of four statements and no read
on MariaDB (10.5 and later: the user's upsert returns the row), five on MySQL (which has no
``RETURNING``: the row is read back, already locked by the upsert). A touch is one
``UPDATE`` in its transaction.

A login that minds the user's standing (:meth:`~wxauth.core.ports.Store.
record_login_unless_blocked`) reads the user first in the same transaction, and a user it
creates with a UnionID is linked to their person there too: one transaction, one commit,
where a read, the login and the link took three.

The driver (asyncmy, like PyMySQL) sends no ``BEGIN``: the server starts the transaction
at the first statement, and the commit is the one more round trip.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.models import GuardedLogin, LoginRecord, User
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.login_sql import LoginStatements
from wxauth.storage.persons_sql import link_new_user
from wxauth.storage.writes import TransactionWrites, read_then_login


def guarded_login(
    conn: Connection,
    statements: LoginStatements,
    record: LoginRecord,
    outbox: LoginOutbox | None = None,
) -> GuardedLogin:
    unionid = record.unionid

    def linked(conn: Connection, user: User) -> User:
        assert unionid is not None
        return link_new_user(conn, statements.dialect, user, unionid)

    link = linked if unionid is not None else None
    return read_then_login(conn, statements, record, outbox, link)


class MysqlWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on MySQL and MariaDB."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.guarded_login = self._guarded_login

    async def _guarded_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> GuardedLogin:
        statements = self.statements
        return await self.run(lambda conn: guarded_login(conn, statements, record, outbox))
