"""The intake policy for PDFs: what a document must not contain to be stored and shown.

A PDF is refused when it
- is a PDF and a web page at once (HTML tags in its first 1024 bytes or outside its objects);
- is encrypted (the portal could not look inside it, seal it, or hand it to an archive);
- is damaged beyond what qpdf repairs, or has no page;
- has more than `max_pages` pages or more than MAX_OBJECTS objects;
- carries active content: JavaScript anywhere, a Launch action anywhere, an action that runs by
  itself (/OpenAction, /AA) other than a jump to a page, a link or button that submits, imports
  or opens files, an XFA form, embedded files (attachments), RichMedia or 3D content.

`inspect_pdf` runs in the sandbox's child process (`casefiles.sandbox`); it returns what it
found rather than raising, so that the answer crosses the process boundary as plain data.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Iterator
from typing import Any

import pikepdf
from pikepdf import Array, Dictionary, Name, ObjectType, Stream

from casefiles.findings import (
    AUTOMATIC_ACTION,
    CLICK_ACTION,
    DAMAGED,
    EMBEDDED_FILES,
    ENCRYPTED,
    HTML_POLYGLOT,
    JAVASCRIPT,
    LAUNCH,
    MULTIMEDIA,
    TOO_MANY_OBJECTS,
    TOO_MANY_PAGES,
    XFA_FORM,
    Finding,
)

# A reader of seals and validators (pyHanko) walks every cross-reference entry: ~1 s per
# 100,000 on this machine. Legitimate letters have hundreds, long reports tens of thousands.
MAX_OBJECTS = 250_000
HEAD_BYTES = 1024  # where a PDF's header may lie, and where file-type sniffers look first


# Table 201 of ISO 32000-2: the action types. A dictionary whose /S is one of them is an action.
_ACTIONS = frozenset(
    [
        *("GoTo", "GoToR", "GoToE", "GoToDp", "Launch", "Thread", "URI", "Sound", "Movie"),
        *("Hide", "Named", "SubmitForm", "ResetForm", "ImportData", "SetOCGState"),
        *("Rendition", "Trans", "GoTo3DView", "JavaScript", "RichMediaExecute"),
    ]
)
# What a reader may do when the reader clicks: move within the document, open a web address
# (the reader's browser asks), show or hide parts of it. Not: run code, start programs, open
# other files, send or fetch form data, play media.
_ON_CLICK = frozenset(
    [
        *("GoTo", "GoToDp", "Thread", "URI", "Named", "Hide", "ResetForm", "SetOCGState"),
        *("Trans", "GoTo3DView"),
    ]
)
_HTML_TAG = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|link|style|form"
    rb"|img)[\s/>]",
    re.IGNORECASE,
)
# The names of everything the policy refuses or looks at more closely: keys, annotation types
# and the action types not allowed on a click (an action that runs by itself has /OpenAction
# or /AA above it).
_SUSPECT_NAMES = sorted(
    {"JS", "JavaScript", "XFA", "EmbeddedFiles", "EmbeddedFile", "EF", "FileAttachment"}
    | {"RichMedia", "3D", "OpenAction", "AA"}
    | (_ACTIONS - _ON_CLICK)
)
_SUSPECT = re.compile(
    rb"/(?:%s)(?=[\s/<>\[\]()%%{}]|$)" % b"|".join(n.encode() for n in _SUSPECT_NAMES)
)
_OBJ_START = re.compile(rb"\d+\s+\d+\s+obj\b")
_OBJ_END = re.compile(rb"\bendobj\b")


def inspect_pdf(data: bytes, max_pages: int) -> Finding | None:
    """What is wrong with the PDF by the policy, or None when it may be stored."""
    if html_outside_objects(data):
        return Finding(HTML_POLYGLOT)
    try:
        pdf = pikepdf.open(io.BytesIO(data), inherit_page_attributes=False)
    except pikepdf.PasswordError:
        return Finding(ENCRYPTED)
    except (pikepdf.PdfError, ValueError, RuntimeError):
        return Finding(DAMAGED)
    with pdf:
        try:
            return _inspect_open(pdf, max_pages)
        except MemoryError:
            raise  # the sandbox's limit, not damage
        except Exception:
            # qpdf repairs what it can while it reads; what it cannot (an error of any kind,
            # deep in a hostile file) is damage.
            return Finding(DAMAGED)


def html_outside_objects(data: bytes) -> bool:
    """Whether HTML tags stand where a browser opening the file as a page would meet them
    first: in the first 1024 bytes, or outside `obj … endobj` (comments, after %%EOF)."""
    starts: list[int] | None = None
    ends: list[int] = []
    for hit in _HTML_TAG.finditer(data):
        if hit.start() < HEAD_BYTES:
            return True
        if starts is None:  # only a file with a tag at all pays for the map of its objects
            starts = [m.start() for m in _OBJ_START.finditer(data)]
            ends = [m.end() for m in _OBJ_END.finditer(data)]
        last_start = bisect.bisect_right(starts, hit.start())
        last_end = bisect.bisect_right(ends, hit.start())
        opened = starts[last_start - 1] if last_start else -1
        closed = ends[last_end - 1] if last_end else -1
        if opened <= closed:
            return True
    return False


def _inspect_open(pdf: pikepdf.Pdf, max_pages: int) -> Finding | None:
    if pdf.is_encrypted:
        # qpdf opens a PDF whose user password is empty; pyHanko cannot seal it, and an
        # archive needs it unencrypted.
        return Finding(ENCRYPTED)
    declared = pdf.trailer.get("/Size")
    if isinstance(declared, int) and declared > MAX_OBJECTS + 1:
        return Finding(TOO_MANY_OBJECTS, {"limit": MAX_OBJECTS})
    pages = _count_pages(pdf, max_pages)
    if pages == 0:
        return Finding(DAMAGED)
    if pages > max_pages:
        return Finding(TOO_MANY_PAGES, {"limit": max_pages})
    objects = pdf.objects
    if len(objects) > MAX_OBJECTS:
        return Finding(TOO_MANY_OBJECTS, {"limit": MAX_OBJECTS})
    # Every object qpdf knows, reachable or not: a reader that repairs a file may find one
    # that the cross-reference table does not lead to. qpdf writes each object out with its
    # names decoded (/J#61vaScript is /JavaScript); only an object that names something of
    # interest is looked at key by key (that costs ~20 µs an object, the text ~2 µs).
    for obj in objects:
        kind = obj._type_code
        if kind == ObjectType.dictionary:
            text = obj.unparse(resolved=True)
        elif kind == ObjectType.stream:
            text = obj.stream_dict.unparse()
        else:
            continue
        if _SUSPECT.search(text):
            finding = _active_content(obj)
            if finding is not None:
                return finding
    return None


def _count_pages(pdf: pikepdf.Pdf, limit: int) -> int:
    """The pages of the page tree, counted up to limit + 1 (so a huge tree costs no more)."""
    root = pdf.Root.get("/Pages")
    if not isinstance(root, Dictionary):
        return 0
    declared = root.get("/Count")
    if isinstance(declared, int) and declared > limit:
        return declared  # refused at once; the count of a real tree is checked below
    pages = 0
    seen: set[tuple[int, int]] = set()
    stack: list[Iterator[Any]] = [iter([root])]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        if not isinstance(node, Dictionary):
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue  # a loop in the tree, or a page listed twice
            seen.add(node.objgen)
        kids = node.get("/Kids")
        if node.get("/Type") != Name.Page and isinstance(kids, Array):
            stack.append(iter(kids))
            continue
        pages += 1
        if pages > limit:
            break
    return pages


def _active_content(obj: pikepdf.Object) -> Finding | None:
    """Active content in one indirect object (a dictionary or a stream) and the direct objects
    inside it."""
    stack: list[Any] = [obj.stream_dict if isinstance(obj, Stream) else obj]
    while stack:
        item = stack.pop()
        if isinstance(item, Array):
            stack.extend(v for v in item if _direct_container(v))
            continue
        finding = _dictionary_finding(item)
        if finding is not None:
            return finding
        stack.extend(v for v in item.values() if _direct_container(v))
    return None


def _direct_container(value: Any) -> bool:
    # Indirect objects are inspected in their own turn; streams are always indirect.
    return isinstance(value, Dictionary | Array) and not value.is_indirect


def _dictionary_finding(d: Dictionary) -> Finding | None:
    keys = set(d.keys())
    if keys & {"/JS", "/JavaScript"}:
        return Finding(JAVASCRIPT)  # a JavaScript action, or the document's JavaScript names
    if "/XFA" in keys:
        return Finding(XFA_FORM)
    if keys & {"/EmbeddedFiles", "/EF"} or d.get("/Type") == Name.EmbeddedFile:
        return Finding(EMBEDDED_FILES)
    subtype = d.get("/Subtype")
    if subtype == Name.FileAttachment:
        return Finding(EMBEDDED_FILES)
    if subtype in (Name.RichMedia, Name("/3D")):
        return Finding(MULTIMEDIA)
    action = _action_type(d)
    if action is not None and action not in _ON_CLICK:
        return _action_finding(action, CLICK_ACTION)
    for trigger in ("/OpenAction", "/AA"):
        if trigger in keys:
            finding = _automatic(d[trigger], trigger)
            if finding is not None:
                return finding
    return None


def _automatic(value: Any, trigger: str) -> Finding | None:
    """Actions that run without a click: only a jump within the document is allowed."""
    if trigger == "/OpenAction" and isinstance(value, Array):
        return None  # an explicit destination: the page to open at
    if not isinstance(value, Dictionary):
        return None
    if trigger == "/AA":
        actions = [v for v in value.values() if isinstance(v, Dictionary)]
    else:
        actions = [value]
    seen: set[tuple[int, int]] = set()
    while actions:
        action = actions.pop()
        if action.is_indirect:
            if action.objgen in seen:
                continue
            seen.add(action.objgen)
        kind = _action_type(action) or "unknown"
        if kind != "GoTo":
            return _action_finding(kind, AUTOMATIC_ACTION)
        following = action.get("/Next")
        if isinstance(following, Dictionary):
            actions.append(following)
        elif isinstance(following, Array):
            actions.extend(a for a in following if isinstance(a, Dictionary))
    return None


def _action_type(d: Dictionary) -> str | None:
    kind = d.get("/S")
    if isinstance(kind, Name) and str(kind)[1:] in _ACTIONS:
        return str(kind)[1:]
    return None


def _action_finding(action: str, message: str) -> Finding:
    if action == "JavaScript":
        return Finding(JAVASCRIPT)
    if action == "Launch":
        return Finding(LAUNCH)
    return Finding(message, {"action": action})
