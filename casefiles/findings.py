"""Why the intake policy refuses a file: the findings and their messages, without the parsers.

The web process names these messages (to show them, and to accept only them from the checker's
child process); the parsers that find them (pikepdf in `casefiles.pdf_policy`, Pillow in
`casefiles.images`) are loaded only in that child (`casefiles.sandbox`), so no web or worker
process carries qpdf's parser, and hostile bytes are parsed in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """Why a file is refused: an English message (a msgid) and its parameters, less the name."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)


def N_(message: str) -> str:
    """Mark a message for translation (as `directory.identifiers.N_`; not imported from there,
    so that the checker's child process imports nothing but the parsers and this module)."""
    return message


DAMAGED = N_("The file %(name)s is damaged and cannot be read as a PDF.")
ENCRYPTED = N_(
    "The file %(name)s is encrypted. Encrypted PDFs cannot be checked, sealed or archived; "
    "please send it unencrypted."
)
TOO_MANY_PAGES = N_("The file %(name)s has more than %(limit)s pages.")
TOO_MANY_OBJECTS = N_(
    "The file %(name)s is too complex to check (more than %(limit)s PDF objects)."
)
HTML_POLYGLOT = N_(
    "The file %(name)s is a PDF and a web page (HTML) at once. Such files are not accepted."
)
JAVASCRIPT = N_(
    "The file %(name)s contains JavaScript. Documents with active content are not accepted."
)
LAUNCH = N_(
    "The file %(name)s contains a Launch action, which starts programs. Documents with active "
    "content are not accepted."
)
AUTOMATIC_ACTION = N_(
    "The file %(name)s runs the action %(action)s by itself when it is opened or viewed. Only a "
    "jump to a page is allowed."
)
CLICK_ACTION = N_(
    "The file %(name)s contains a link or button with the action %(action)s, which is not accepted."
)
XFA_FORM = N_(
    "The file %(name)s contains an XFA form. Please send it as a plain PDF (printed or flattened)."
)
EMBEDDED_FILES = N_(
    "The file %(name)s contains embedded files (attachments). Please send each document as a "
    "file of its own."
)
MULTIMEDIA = N_(
    "The file %(name)s contains multimedia or 3D content, which can run code. Documents with "
    "active content are not accepted."
)

NOT_AN_IMAGE = N_("The file %(name)s is not a valid %(kinds)s file.")
TOO_MANY_PIXELS = N_("The image %(name)s is larger than %(limit)s megapixels.")
