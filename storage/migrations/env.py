"""Alembic environment. The caller passes the engine and the complete metadata in
`config.attributes`, so this package never imports the domain packages (arrows point down)."""

from alembic import context
from sqlalchemy import Connection

config = context.config
engine = config.attributes["engine"]
target_metadata = config.attributes["metadata"]


def _pragma(connection: Connection, statement: str) -> None:
    # On the driver's connection: SQLAlchemy's would open a transaction first (storage/db.py
    # begins every one with BEGIN IMMEDIATE), and inside one SQLite ignores this pragma.
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute(statement)


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by copy, drop and rename; with foreign keys enforced the
        # drop fails as soon as other rows reference the table. SQLite reads this pragma only
        # outside a transaction, so it is set before the migration's transaction begins, and
        # the keys are checked after it.
        _pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables there and is a no-op
            # on PostgreSQL.
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left dangling foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.rollback()
            _pragma(connection, "PRAGMA foreign_keys=ON")
