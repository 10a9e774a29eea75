"""A legacy application's user table (PostgreSQL, MariaDB/MySQL, …), columns mapped in configuration."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import Engine, MetaData, Table, case, create_engine, literal, select
from sqlalchemy.exc import IntegrityError, NoSuchTableError, OperationalError, SQLAlchemyError

from connectors.base import Account, AlreadyExists, Connector, Operation, PermanentError, TransientError

# A table or column name: letters (Vietnamese ones too), digits and '_', optionally schema-qualified. Refused
# when the configuration is saved, so nothing that looks like SQL is ever kept.
IDENTIFIER = re.compile(r"^[^\W\d]\w{0,62}(\.[^\W\d]\w{0,62})?$")


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a table or column name (letters, digits and _ only)")
    return value


class SqlTableConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: SecretStr = Field(description="SQLAlchemy URL, e.g. mysql+pymysql://user:pass@host/db")
    table: str
    key_column: str = Field(description="the column the account key (username) goes to")
    id_column: str | None = Field(None, description="the table's own id; the key column if not given")
    columns: dict[str, str] = Field(default_factory=dict, description="account attribute -> column")
    enabled_column: str | None = None
    enabled_value: Any = 1
    disabled_value: Any = 0
    connect_timeout: int = Field(5, ge=1, le=60)

    @field_validator("table", "key_column", "id_column", "enabled_column")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else _identifier(value)

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        for column in value.values():
            _identifier(column)
        return value


class SqlTableConnector(Connector):
    Config = SqlTableConfig
    operations = frozenset({Operation.CREATE, Operation.CREATE_MANY, Operation.UPDATE, Operation.UPDATE_MANY,
                            Operation.DISABLE, Operation.ENABLE, Operation.DELETE, Operation.GET, Operation.GET_MANY,
                            Operation.LIST})
    default_mapping = {"full_name": "{display_name}", "email": "{email}", "unit": "{unit_path}"}

    def __init__(self, config: BaseModel) -> None:
        super().__init__(config)
        assert isinstance(config, SqlTableConfig)
        self.cfg = config
        url = config.url.get_secret_value()
        args = {"connect_timeout": config.connect_timeout} if not url.startswith("sqlite") else {}
        # Every operation is one statement (a create's id read after it is harmless to repeat): autocommit saves
        # the BEGIN and COMMIT round trips of each. No pre-ping, a round trip per operation too: a connection the
        # database dropped fails one attempt as a TransientError and the pool replaces it.
        self.engine: Engine = create_engine(url, connect_args=args, isolation_level="AUTOCOMMIT")
        self._table: Table | None = None

    @property
    def id_column(self) -> str:
        return self.cfg.id_column or self.cfg.key_column

    def table(self) -> Table:
        if self._table is None:
            try:
                self._table = Table(self.cfg.table, MetaData(), autoload_with=self.engine)
            except NoSuchTableError as exc:
                raise PermanentError(f"table {self.cfg.table} does not exist") from exc
            except OperationalError as exc:
                raise TransientError(f"cannot reach the database: {exc.orig}") from exc
            wanted = {self.cfg.key_column, self.id_column, *self.cfg.columns.values()}
            if self.cfg.enabled_column:
                wanted.add(self.cfg.enabled_column)
            missing = wanted - set(self._table.c.keys())
            if missing:
                raise PermanentError(f"table {self.cfg.table} has no column {', '.join(sorted(missing))}")
        return self._table

    def _run(self, fn: Any) -> Any:
        try:
            with self.engine.begin() as conn:
                return fn(conn, self.table())
        except IntegrityError as exc:
            raise AlreadyExists(f"the row exists already: {exc.orig}") from exc
        except OperationalError as exc:
            raise TransientError(f"database unavailable: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise PermanentError(f"database refused: {exc}") from exc

    def _row(self, account: Account) -> dict[str, Any]:
        row = {column: account.attributes.get(attr) for attr, column in self.cfg.columns.items()}
        row[self.cfg.key_column] = account.key
        if self.cfg.enabled_column:
            row[self.cfg.enabled_column] = self.cfg.enabled_value if account.enabled else self.cfg.disabled_value
        return row

    def _account(self, row: Any) -> Account:
        attrs = {attr: row._mapping[column] for attr, column in self.cfg.columns.items()}
        enabled = True
        if self.cfg.enabled_column:
            enabled = row._mapping[self.cfg.enabled_column] == self.cfg.enabled_value
        return Account(key=str(row._mapping[self.cfg.key_column]), attributes=attrs, enabled=enabled,
                       target_id=str(row._mapping[self.id_column]))

    def test(self) -> None:
        self._run(lambda conn, t: conn.execute(select(t).limit(1)).all())

    def get(self, key: str) -> Account | None:
        row = self._run(lambda conn, t: conn.execute(select(t).where(t.c[self.cfg.key_column] == key)).first())
        return self._account(row) if row is not None else None

    def get_many(self, keys: Sequence[str]) -> dict[str, Account]:
        rows = self._run(lambda conn, t: conn.execute(select(t).where(t.c[self.cfg.key_column].in_(keys))).all())
        return {account.key: account for account in map(self._account, rows)}

    def create(self, account: Account) -> str:
        def insert(conn: Any, t: Table) -> str:
            result = conn.execute(t.insert().values(**self._row(account)))
            if self.id_column == self.cfg.key_column:
                return account.key
            pk = result.inserted_primary_key
            return str(pk[0]) if pk and pk[0] is not None else str(
                conn.execute(select(t.c[self.id_column]).where(t.c[self.cfg.key_column] == account.key)).scalar_one())
        return str(self._run(insert))

    def create_many(self, accounts: Sequence[Account]) -> dict[str, str]:
        def insert(conn: Any, t: Table) -> dict[str, str]:
            conn.execute(t.insert().values([self._row(account) for account in accounts]))  # one statement: all or none
            keys = [account.key for account in accounts]
            if self.id_column == self.cfg.key_column:
                return {key: key for key in keys}
            rows = conn.execute(select(t.c[self.cfg.key_column], t.c[self.id_column])
                                .where(t.c[self.cfg.key_column].in_(keys))).all()
            return {str(key): str(target_id) for key, target_id in rows}
        return dict(self._run(insert)) if accounts else {}

    def _set(self, target_id: str, values: dict[str, Any]) -> None:
        def change(conn: Any, t: Table) -> None:
            done = conn.execute(t.update().where(t.c[self.id_column] == self._cast(t, target_id)).values(**values))
            if done.rowcount == 0:
                raise PermanentError(f"no row with {self.id_column} = {target_id}")
        self._run(change)

    def _cast(self, t: Table, target_id: str) -> Any:
        python_type = getattr(t.c[self.id_column].type, "python_type", str)
        return int(target_id) if python_type is int else target_id

    def update(self, target_id: str, account: Account) -> None:
        self._set(target_id, self._row(account))

    def update_many(self, accounts: Mapping[str, Account]) -> None:
        def change(conn: Any, t: Table) -> None:
            rows = {self._cast(t, target_id): self._row(account) for target_id, account in accounts.items()}
            ident, columns = t.c[self.id_column], next(iter(rows.values())).keys()
            # One statement (each column a CASE over the ids): atomic in autocommit, on every SQL database.
            values = {column: case({pk: literal(row[column], t.c[column].type) for pk, row in rows.items()},
                                   value=ident) for column in columns}
            done = conn.execute(t.update().where(ident.in_(list(rows))).values(values))
            if done.rowcount != len(rows):
                raise PermanentError(f"{len(rows) - done.rowcount} of {len(rows)} rows not in {self.cfg.table}")
        if accounts:
            self._run(change)

    def disable(self, target_id: str) -> None:
        if not self.cfg.enabled_column:
            raise PermanentError("this table has no enabled_column: accounts cannot be disabled")
        self._set(target_id, {self.cfg.enabled_column: self.cfg.disabled_value})

    def enable(self, target_id: str) -> None:
        if not self.cfg.enabled_column:
            return
        self._set(target_id, {self.cfg.enabled_column: self.cfg.enabled_value})

    def delete(self, target_id: str) -> None:
        self._run(lambda conn, t: conn.execute(t.delete().where(t.c[self.id_column] == self._cast(t, target_id))))

    def list(self) -> Iterator[Account]:
        rows = self._run(lambda conn, t: conn.execute(select(t)).all())
        for row in rows:
            yield self._account(row)
