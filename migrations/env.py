from __future__ import annotations

from alembic import context

from app import installation as _installation  # noqa: F401
from app.admin import models as _admin  # noqa: F401
from app.audit import models as _audit  # noqa: F401
from app.auth import models as _auth  # noqa: F401
from app.db import Base, make_engine
from app.identity import models as _identity  # noqa: F401
from app.mfa import models as _mfa  # noqa: F401
from app.provisioning import models as _provisioning  # noqa: F401
from app.store import models as _store  # noqa: F401
from app.upstream import models as _upstream  # noqa: F401

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database URL given to the migrations")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; give a database URL")
run_migrations()
