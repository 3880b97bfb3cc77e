"""Images in residents' replies (PNG, JPEG): decoded completely and encoded again.

What is stored is what Pillow wrote, never the bytes that arrived: a file that does not decode
as the type its signature claims (a PNG signature followed by HTML, say) is refused, and
nothing but pixels survives (no EXIF with a location, no text chunks, no comments, no ICC
profile, no trailing data). The EXIF orientation is applied to the pixels before EXIF goes, so
a phone's photo stays upright. Of an animated or multi-picture file the first frame is kept.

`reencode` runs in the sandbox's child process (`casefiles.sandbox`).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from casefiles.findings import NOT_AN_IMAGE, TOO_MANY_PIXELS, Finding

# A 48-megapixel phone photo fits; decoding one takes ~150 MB, in the child.
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 90  # a second JPEG generation; at 90 the loss is not visible on a document photo

_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def reencode(data: bytes, media_type: str) -> bytes | Finding:
    """The image encoded again without metadata, or why it is refused."""
    fmt = _FORMATS[media_type]
    not_valid = Finding(NOT_AN_IMAGE, {"kinds": fmt})
    too_large = Finding(TOO_MANY_PIXELS, {"limit": MAX_PIXELS // 1_000_000})
    with warnings.catch_warnings():
        # Pillow warns of a decompression bomb above its own limit; that is a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return too_large
                image.load()  # every pixel: truncated or corrupt data fails here
                upright = ImageOps.exif_transpose(image)
                return _encode(upright, fmt)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return too_large
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            return not_valid
        except MemoryError:
            raise  # the sandbox's limit, not a broken image
        except Exception:
            # A decoder meeting hostile data fails in many ways; each means: not a valid image.
            return not_valid


def _encode(image: Image.Image, fmt: str) -> bytes:
    transparency = image.info.get("transparency") if fmt == "PNG" else None
    # Pillow writes some of `info` back (ICC profile, comments, XMP): start from nothing.
    image.info = {}
    options: dict[str, object] = {}
    if fmt == "PNG":
        if transparency is not None:
            options["transparency"] = transparency
    else:
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        options["quality"] = JPEG_QUALITY
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()
