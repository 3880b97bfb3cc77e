"""The catalogue a process serves: the shipped declarations, loaded once per process.

A broken declaration is logged and left out; the others are served (`Catalogue.errors` lists
what was refused, `portal catalogue check` prints it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalogue import loader
from catalogue.model import Service
from catalogue.search import search

log = logging.getLogger(__name__)

TOPICS = (
    "wohnen", "fahrzeuge", "steuern", "migration", "familie", "tiere",
    "betreibung", "arbeit", "bauen", "sicherheit", "gesundheit", "bildung",
)  # fmt: skip
LEVELS = ("commune", "canton", "federal")


@dataclass(frozen=True)
class Catalogue:
    services: Mapping[str, Service]
    errors: tuple[loader.DeclarationError, ...] = field(default=())

    @classmethod
    def from_directory(cls, directory: Path) -> Catalogue:
        """Load every `*.yaml` of a directory; problems are logged and kept in `errors`."""
        services, errors = loader.load_directory(directory)
        for error in errors:
            log.error("service declaration refused: %s", error)
        return cls(services, tuple(errors))

    def get(self, service_id: str) -> Service | None:
        return self.services.get(service_id)

    def all(self) -> list[Service]:
        """Every service, by topic, level and German title (a stable order for lists)."""
        return sorted(
            self.services.values(),
            key=lambda s: (TOPICS.index(s.topic), LEVELS.index(s.level), s.title.de),
        )

    def search(self, query: str, language: str) -> list[Service]:
        """Services whose title, summary or keywords in `language` hold every word of `query`."""
        if not query.strip():
            return self.all()
        return search(self.all(), query, language)


@functools.cache
def default() -> Catalogue:
    """The shipped catalogue (catalogue/services), loaded on first use and kept per process."""
    return Catalogue.from_directory(loader.SHIPPED_DIR)
