"""Alembic, driven from code: scripts in storage/migrations, metadata from the models here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

import storage
from app.models import Base

if TYPE_CHECKING:
    from app.runtime import Runtime

SCRIPTS = Path(storage.__file__).parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["engine"] = engine
    cfg.attributes["metadata"] = Base.metadata
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def revision(engine: Engine, message: str) -> None:
    command.revision(alembic_config(engine), message=message, autogenerate=True)


def rewrap_after_upgrade(runtime: Runtime) -> int:
    """After an upgrade that has key groups (0013): put the case files' objects stored before
    it under their case files' keys (needs the KEK, so not part of `upgrade`, which tests and
    tools run without keys). How many objects were rewrapped."""
    from casefiles.case_keys import rewrap_all

    if not inspect(runtime.engine).has_table("group_keys"):
        return 0  # upgraded to a revision before key groups
    return rewrap_all(runtime.transaction)
