"""Alembic environment. The caller passes the engine and the complete metadata in
`config.attributes`, so this package never imports the domain packages (arrows point down)."""

from alembic import context

config = context.config
engine = config.attributes["engine"]
target_metadata = config.attributes["metadata"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by copy, drop and rename; with foreign keys enforced the
        # drop fails as soon as other rows reference the table. SQLite reads this pragma only
        # outside a transaction, so it is set before the migration's transaction begins, and
        # the keys are checked after it.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
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
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
