"""How every stored document leaves the portal, on the web and through the API."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, stream_with_context
from werkzeug.serving import WSGIRequestHandler


def attachment(
    body: Iterator[bytes] | bytes, *, filename: str, media_type: str, size: int | None = None
) -> Response:
    """A download: always saved, never rendered or sniffed by the browser, never cached.

    A document comes from outside (an authority, a resident); shown inline, a crafted file could
    run as a page of the portal's origin, and a shared computer's cache would keep it.
    """
    if isinstance(body, bytes):
        response = Response(body, mimetype=media_type)
    else:
        response = Response(stream_with_context(body), mimetype=media_type)
        if size is not None:
            response.headers["Content-Length"] = str(size)
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "").replace("\\", "")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class PortalRequestHandler(WSGIRequestHandler):
    """The built-in server's handler, without the versions werkzeug puts in `Server`."""

    def version_string(self) -> str:
        # Versions in a header only tell an attacker which advisories to try.
        return "Einwohnerportal"
