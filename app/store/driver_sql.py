"""Core statements compiled once and run straight on the session's own driver connection.

For the hot paths only: the token endpoint and the statements every login runs. Both are CPU-bound in this
process (bench/token_endpoint.py, bench/directory.py), and for a statement that returns one row SQLAlchemy's
per-execution work (statement construction, cache key, result metadata from the cursor's description,
parameter and row processing through the ORM session) measured 3.5 times the driver's own: 150 µs against
42 µs on PostgreSQL. The statement is still written once, in Core, and compiled by SQLAlchemy for the dialect;
it runs in the session's transaction, so it commits or rolls back with everything else. It does not flush the
session first: a caller whose statement depends on objects added to the session flushes them itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from app.db import OWN_CONNECTION

Processor = Callable[[Any], Any]
# Where a statement runs: a session's transaction, or a connection of its own (`Database.statementwise_engine`: a
# statement that stands alone, without a session's unit of work).
Target = Session | Connection


class _Compiled:
    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        # Expanding once fixes the text (these statements have no IN lists). Every parameter is left empty but
        # the statement's own constants, such as a string_agg separator, which come out either rendered into
        # the text or as parameters to send each time.
        expanded = compiled.construct_expanded_state({name: bind.value for name, bind in compiled.binds.items()})
        self.sql: str = expanded.statement
        self.constants = {k: v for k, v in expanded.parameters.items() if v is not None}
        self.order = tuple(expanded.positiontup or ())  # qmark dialects (SQLite): parameters by position
        # Server-side prepared on PostgreSQL: planned once per connection.
        self.options: dict[str, Any] = {"prepare": True} if dialect.name == "postgresql" else {}
        self.bind_processors: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type._cached_bind_processor(dialect)
            if processor is not None:
                self.bind_processors[name] = processor
        columns = compiled._result_columns or []
        self.keys = tuple(entry.keyname for entry in columns)
        self.result_processors = tuple(entry.type._cached_result_processor(dialect, None) for entry in columns)

    def parameters(self, values: Mapping[str, Any]) -> Any:
        merged = {**self.constants, **values}
        for name, processor in self.bind_processors.items():
            if name in merged:
                merged[name] = processor(merged[name])
        return tuple(merged[name] for name in self.order) if self.order else merged

    def row(self, raw: tuple[Any, ...]) -> dict[str, Any]:
        return {key: (value if process is None or value is None else process(value))
                for key, process, value in zip(self.keys, self.result_processors, raw, strict=True)}


def _connection_of(session: Session) -> Connection:
    own: Connection | None = session.info.get(OWN_CONNECTION)
    return own if own is not None else session.connection()


class DriverStatement:
    """A Core statement run on the driver; rows come back as dicts keyed by the statement's column labels."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, target: Target) -> _Compiled:
        dialect = target.dialect if isinstance(target, Connection) else target.get_bind().dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        return compiled

    def _cursor(self, target: Target, values: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        compiled = self._compiled(target)
        connection = target if isinstance(target, Connection) else _connection_of(target)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(compiled.sql, compiled.parameters(values), **compiled.options)
        return compiled, cursor

    def execute_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row, sent together (psycopg pipelines them); a single row as one prepared
        execution, which costs less than a pipeline."""
        if len(rows) == 1:
            self.rowcount(session, rows[0])
            return
        compiled = self._compiled(session)
        cursor = _connection_of(session).connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(compiled.sql, [compiled.parameters(values) for values in rows])
        finally:
            cursor.close()

    def one_or_none(self, target: Target, values: Mapping[str, Any]) -> dict[str, Any] | None:
        compiled, cursor = self._cursor(target, values)
        try:
            raw = cursor.fetchone()
            return compiled.row(raw) if raw is not None else None
        finally:
            cursor.close()

    def rowcount(self, target: Target, values: Mapping[str, Any]) -> int:
        _, cursor = self._cursor(target, values)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()
