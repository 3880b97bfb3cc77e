"""Exports of case files for an archive or another authority (docs/export-format.md).

`write_export` streams case files into one zip, as a BagIt bag or an eCH-0160 SIP;
`casefiles.export.jobs` makes one in the background for the archivists. The format's names are
in `casefiles.export.format`, and `casefiles.export.ech0160.metadata_xml` builds the SIP's
metadata from the package's own files, so the offline checker can rebuild it.

Only the names below are imported here; the writer loads the database's models when it is
itself imported, which the offline checker never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casefiles.export.writer import ExportSummary, write_export

__all__ = ["ExportError", "ExportSummary", "write_export"]


class ExportError(Exception):
    """The export cannot be made (an unknown or destroyed case file, a bad format, a document
    that does not match its digest); the message is for a person."""


def __getattr__(name: str) -> Any:
    # Lazily: `casefiles.export.format` and `.ech0160` must stay importable without SQLAlchemy.
    if name in ("ExportSummary", "write_export"):
        from casefiles.export import writer

        return getattr(writer, name)
    raise AttributeError(name)
