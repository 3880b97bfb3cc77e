"""Words of the catalogue pages: topics and levels of the declarations, in the user's language."""

from __future__ import annotations

from flask_babel import lazy_gettext

TOPICS = {
    "wohnen": lazy_gettext("Living and residence"),
    "fahrzeuge": lazy_gettext("Vehicles and traffic"),
    "steuern": lazy_gettext("Taxes"),
    "migration": lazy_gettext("Migration and citizenship"),
    "familie": lazy_gettext("Family and civil status"),
    "tiere": lazy_gettext("Animals"),
    "betreibung": lazy_gettext("Debt collection"),
    "arbeit": lazy_gettext("Work"),
    "bauen": lazy_gettext("Building"),
    "sicherheit": lazy_gettext("Safety and order"),
    "gesundheit": lazy_gettext("Health"),
    "bildung": lazy_gettext("Education"),
}
LEVELS = {
    "commune": lazy_gettext("Commune"),
    "canton": lazy_gettext("Canton"),
    "federal": lazy_gettext("Confederation"),
}
WHO = {
    "person": lazy_gettext("Private persons"),
    "organisation": lazy_gettext("Organisations"),
}
