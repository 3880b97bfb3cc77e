"""Alembic environment. The caller passes the engine and the complete metadata in
`config.attributes`, so this package never imports the domain packages (arrows point down)."""

from alembic import context

config = context.config
engine = config.attributes["engine"]
target_metadata = config.attributes["metadata"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables there and is a no-op on
        # PostgreSQL.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
