"""Engine, session scope and the declarative Base; SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")
# Session.info key: the connection a statementwise session was bound to (Database.session).
OWN_CONNECTION = "sso_broker.own_connection"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def now() -> int:
    """Timestamps are integer epoch seconds: the same on SQLite and PostgreSQL, no time-zone traps."""
    return int(time.time())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, isolation_level: str | None = None) -> Engine:
    parsed = make_url(url)
    options = {"isolation_level": isolation_level} if isolation_level else {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # No pre-ping: it costs a round trip per request. Stale connections are recycled instead, and a request
    # that meets a dead one fails once and the pool replaces it.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800, **options)


def locked_row(session: Session, model: type[T], key: Any, make: Callable[[], T]) -> T:
    """The row with this primary key, locked for the rest of the transaction; made by `make` if missing.

    The lock comes from a no-op UPDATE: a row lock on PostgreSQL and the database's write lock on SQLite, which
    ignores SELECT ... FOR UPDATE. So a read-modify-write that follows sees the newest value and cannot
    interleave with another writer's, in any process.
    """
    table = model.__table__  # type: ignore[attr-defined]
    column = next(iter(table.primary_key.columns))
    # Locked and read in one statement (UPDATE … RETURNING, SQLite 3.35+ and PostgreSQL), refreshing the copy the
    # session may hold: every audited write and every login passes here.
    lock = (update(model).where(column == key).values({column.name: column}).returning(model)
            .execution_options(populate_existing=True, synchronize_session=False))
    row = session.scalars(lock).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(make())
        except IntegrityError:
            pass  # another writer made it first: lock theirs
        row = session.scalars(lock).first()
    assert row is not None
    return row


def upsert(session: Session, model: type[Any]) -> Any:
    """An INSERT into the model's table that takes ON CONFLICT clauses, in the session's dialect (PostgreSQL or
    SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert_of = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert_of(model.__table__)


def on_conflict_insert(table: Any) -> Any:
    """An INSERT that takes ON CONFLICT clauses, for a statement compiled once for every dialect
    (app/store/driver_sql.py): PostgreSQL's and SQLite's clauses are written alike, so PostgreSQL's construct
    compiles for both."""
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


def insert_once(session: Session, model: type[Any], values: dict[str, Any],
                update_fields: tuple[str, ...] = ()) -> None:
    """Insert a row unless one with its key exists (then update `update_fields`), in one statement, so two
    requests doing it at once cannot both insert: a look-then-add raced here under load (found by bench)."""
    table = model.__table__
    statement = upsert(session, model).values(**values)
    keys = [c.name for c in table.primary_key.columns]
    if update_fields:
        statement = statement.on_conflict_do_update(index_elements=keys,
                                                    set_={f: statement.excluded[f] for f in update_fields})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    session.execute(statement)


class Database:
    """The engine and a session factory; services take a Session from `session()`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        # Connections of their own, made in autocommit once (switching a pooled connection on every checkout
        # cost more than the round trips saved): each statement its own transaction, no BEGIN and COMMIT.
        # An engine connects only when first used: a process that serves no token grant and no rate-limited page
        # opens none of them.
        self.statementwise_engine = make_engine(url, "AUTOCOMMIT")
        self._statementwise = sessionmaker(self.statementwise_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, each_statement_commits: bool = False) -> Iterator[Session]:
        """One unit of work: committed when the block ends normally, rolled back otherwise.

        `each_statement_commits`: for work whose every write is a single statement that stands on its own
        (a token grant's claim of its code, its rotation of a refresh token), so a failure between two leaves
        nothing inconsistent; such a session commits each statement as it runs and cannot roll back. On SQLite it
        is an ordinary transaction: with no data-modifying CTEs there, such work is several statements (a refresh
        token's rotation, then its successor), and a crash between them would leave the client only a rotated
        token, whose retry reads as reuse and revokes its grant.
        """
        if each_statement_commits and not self.is_sqlite:
            with self.statementwise_engine.connect() as connection:
                session = self._statementwise(bind=connection)
                # Driver statements (app/store/driver_sql.py) run on this connection as it is: asking the session
                # for its connection would begin a session transaction, 30 µs a grant for nothing to roll back.
                session.info[OWN_CONNECTION] = connection
                with _unit_of_work(session):
                    yield session
            return
        with _unit_of_work(self._factory()) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.statementwise_engine.dispose()


@contextmanager
def _unit_of_work(session: Session) -> Iterator[Session]:
    try:
        yield session
    except BaseException:
        session.rollback()
        session.close()
        raise
    # A block that asked nothing (a cached client's token) began nothing and holds nothing: committing and
    # closing it would still run the session's machinery for every client_credentials grant.
    if session.in_transaction() or session.identity_map:
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


