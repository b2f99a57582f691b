"""MySQL's and MariaDB's writes.

**MariaDB (10.5 and later): a login is one query.** The statements of a login that minds
the user's standing go to the server together, its ``COMMIT`` last, as one multi-statement
query on the driver's own connection (asyncmy, like PyMySQL, always lets a connection send
several; every value is still a bound parameter, escaped by the driver):

1. the user as they were, by a plain read of the transaction's snapshot (it locks nothing),
   which also sets ``@wxauth_go``: whether that user may log in now
   (:func:`~wxauth.core.models.blocks_login` on the stored row; 1 for a new user), and
   ``@wxauth_new``: whether the snapshot held no such user;
2. the user's upsert (``INSERT … VALUES … ON DUPLICATE KEY UPDATE … RETURNING``), whose
   update changes nothing of a user who may not log in;
3. the session_key, the session and the event (``INSERT … SELECT … WHERE @wxauth_go``),
   each taking the user's id from the row the upsert left and locked;
4. for a new user with a UnionID: the person, founded (the new user's own id) or joined (a
   no-op update that locks the row a racing founder committed), and the user's
   ``person_id``, left empty when that person was merged into another (the service then
   links the user through :meth:`~wxauth.storage.sql.SqlStore.link_person`, which follows
   merges).

The server runs them in order and stops at the first error, before the ``COMMIT``; the
pool's reset, when the connection is given back, rolls the rest back. After a query that
got to its ``COMMIT`` the reset sends nothing (:func:`~wxauth.storage.engine.create_engine`),
so where that took eleven round trips (a read, the login's five statements, the person's
four, the reset), it takes one. Through SQLAlchemy's own transaction it took a ``COMMIT``
more, and SQLAlchemy's checkout, transaction and commit were 17 % of a worker's CPU during
200 concurrent logins.

**Everything else, and MySQL** (which has no ``RETURNING``: the row is read back, already
locked by the upsert) runs the same statements as the other databases, one at a time, in
one transaction (:class:`~wxauth.storage.writes.TransactionWrites`): a login with webhook
rows to write, too, since those are made of the user as stored. A touch is one ``UPDATE`` in
its transaction. The driver sends no ``BEGIN``: the server starts the transaction at the
first statement, and the commit is the one more round trip. A transaction that InnoDB
rolled back as a deadlock's victim runs again (:meth:`MysqlWrites.run`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.models import GuardedLogin, LoginRecord, User
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.boundary import translated
from wxauth.storage.driver import driver_connection
from wxauth.storage.login_mariadb import answered, batch_values, login_batch, send_batch
from wxauth.storage.login_sql import LoginStatements
from wxauth.storage.persons_sql import link_new_user
from wxauth.storage.writes import TransactionWrites, read_then_login, write_logins

T = TypeVar("T")


def guarded_login(
    conn: Connection,
    statements: LoginStatements,
    record: LoginRecord,
    outbox: LoginOutbox | None = None,
) -> GuardedLogin:
    """The login one statement at a time (MySQL, or a login with webhook rows)."""
    unionid = record.unionid

    def linked(conn: Connection, user: User) -> User:
        assert unionid is not None
        return link_new_user(conn, statements.dialect, user, unionid)

    link = linked if unionid is not None else None
    return read_then_login(conn, statements, record, outbox, link)


DEADLOCK = 1213  # ER_LOCK_DEADLOCK: the transaction was rolled back
DEADLOCK_TRIES = 3


def _deadlock(exc: DBAPIError) -> bool:
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == DEADLOCK


class MysqlWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on MySQL and MariaDB.

    Which of the two it is (and so whether the upsert can return the row) is known once the
    engine has connected: until then the statements are settled at the first write."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.guarded_login = self._guarded_login
        self._settled = getattr(engine.dialect, "server_version_info", None) is not None
        self.deadlocks = 0  # transactions run again after InnoDB rolled them back

    async def run(self, body: Callable[[Connection], T]) -> T:
        """``body`` in a transaction (see :meth:`_retried`)."""

        async def attempt() -> T:
            async with self.engine.begin() as conn:
                return await conn.run_sync(body)

        return await self._retried(attempt)

    async def _retried(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt``, run again when InnoDB chose its transaction as a deadlock's victim
        (it rolled the whole transaction back). Concurrent first logins of users whose
        openids sort next to each other can deadlock in the upsert's gap locks on the
        unique (appid, openid) index; InnoDB's manual asks applications to retry them."""
        with translated():
            for tries in range(1, DEADLOCK_TRIES + 1):
                try:
                    return await attempt()
                except DBAPIError as exc:
                    if tries == DEADLOCK_TRIES or not _deadlock(exc):
                        raise
                    self.deadlocks += 1
        raise AssertionError("unreachable")  # pragma: no cover

    def _statements(self, conn: Connection) -> LoginStatements:
        if not self._settled:  # connected now: MariaDB or MySQL is known
            self.statements = LoginStatements.for_dialect(conn.dialect)
            self._settled = True
        return self.statements

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        return await self.run(
            lambda conn: write_logins(conn, self._statements(conn), [record], [outbox])[0]
        )

    async def _guarded_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> GuardedLogin:
        if outbox is None and self._settled and self.statements.returning:
            return await self._in_one_query(record)
        return await self.run(lambda conn: self._guarded(conn, record, outbox))

    def _guarded(
        self, conn: Connection, record: LoginRecord, outbox: LoginOutbox | None
    ) -> GuardedLogin:
        """A login one statement at a time (MySQL, a login with webhook rows, or the first
        write, which settles which server this is)."""
        return guarded_login(conn, self._statements(conn), record, outbox)

    async def _in_one_query(self, record: LoginRecord) -> GuardedLogin:
        """MariaDB's login: one query on the driver's own connection, its ``COMMIT`` in it
        (SQLAlchemy's transaction would cost a ``COMMIT`` more, and the pool's reset a
        ``ROLLBACK``). Run again after a deadlock."""
        dialect = self.engine.dialect
        link = record.unionid is not None
        batch = login_batch(dialect, tuple(sorted(record.profile)), record.event is not None, link)
        params = batch.params(batch_values(record))
        dbapi = dialect.loaded_dbapi

        async def attempt() -> GuardedLogin:
            async with driver_connection(
                self.engine, (dbapi.Error,), ends_transaction=True
            ) as driver:
                answer = await send_batch(driver, batch, params)
            return answered(record, answer)

        return await self._retried(attempt)
