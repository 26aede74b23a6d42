"""SQL statements prepared once per PostgreSQL connection (`PREPARE`), for the hot paths.

A prepared statement is parsed and planned once for all its executions on a connection (a
generic plan from the sixth on), which pays where planning costs about as much as running:
routing's pick-and-assign (crm.inbox.routing), the webhooks' INSERT (crm.ingestion). A
connection that does not have it (a new one, or one whose session was reset, e.g. by a
pooler's DISCARD ALL) prepares it first; a failed execution makes the next one look again. On
another database (the demo's SQLite), or with settings.DB_PREPARED_STATEMENTS off (a pooler in
transaction mode, where a session's PREPARE may not be on the next transaction's server
connection), the statement runs as plain SQL.
"""

import weakref
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError


class Prepared:
    """One statement: `body()` gives its SQL with `%(name)s` placeholders for `params`
    (name -> PostgreSQL type, in order), built when first prepared."""

    def __init__(self, name: str, params: dict[str, str], body: Callable[[], str]) -> None:
        self.name, self.params, self.body = name, params, body
        self.execute_sql = f"EXECUTE {name} ({', '.join(f'%({n})s' for n in params)})"
        self._plain: str | None = None
        self._on: weakref.WeakSet = weakref.WeakSet()  # DB-API connections known to have it

    def execute(self, cursor, values: dict, before: str = "") -> None:
        """Run it on `cursor` (a Django cursor) with `values`;
        `before`: SQL sent ahead of it in the same round trip (its placeholders in `values`)."""
        db = cursor.db  # the connection itself: each attribute of django.db.connection is a lookup
        if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
            if self._plain is None:
                self._plain = self.body()
            cursor.execute(before + self._plain, values)
            return
        raw = db.connection
        if raw not in self._on:
            cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [self.name])
            if cursor.fetchone() is None:
                names = list(self.params)
                body = self.body() % {n: f"${i}" for i, n in enumerate(names, 1)}
                types = ", ".join(self.params.values())
                cursor.execute(f"PREPARE {self.name} ({types}) AS {body}")
            self._on.add(raw)
        try:
            cursor.execute(before + self.execute_sql, values)
        except DatabaseError:
            self._on.discard(raw)
            raise
