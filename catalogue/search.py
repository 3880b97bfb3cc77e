"""Search in the catalogue in one language: every word of the query must occur (accents, case
and ß ignored) in a service's title, summary or keywords in that language."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from catalogue.model import LANGUAGES, Service


def fold(text: str) -> str:
    """Lower case without accents: `Bestätigung` and `bestatigung` match, `Straße` and `strasse`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search(services: Iterable[Service], query: str, language: str) -> list[Service]:
    """The services matching every word of `query` in `language`; title matches first."""
    language = language if language in LANGUAGES else "de"
    words = fold(query).split()
    hits: list[tuple[int, str, Service]] = []
    for service in services:
        title = fold(service.title.get(language))
        rest = " ".join(
            [fold(service.summary.get(language)), *map(fold, service.keywords.get(language, ()))]
        )
        if not all(word in title or word in rest for word in words):
            continue
        in_title = sum(word in title for word in words)
        hits.append((-in_title, title, service))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [service for _, _, service in hits]
