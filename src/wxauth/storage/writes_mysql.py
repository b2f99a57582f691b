"""MySQL's and MariaDB's writes: a login in one transaction of four statements and no read
on MariaDB (10.5 and later: the user's upsert returns the row), five on MySQL (which has no
``RETURNING``: the row is read back, already locked by the upsert). A touch is one
``UPDATE`` in its transaction.

The driver (asyncmy, like PyMySQL) sends no ``BEGIN``: the server starts the transaction
at the first statement, and the commit is the one more round trip.
"""

from __future__ import annotations

from wxauth.storage.writes import TransactionWrites


class MysqlWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on MySQL and MariaDB."""
