"""Images of the intake policy: decoded completely, encoded again, nothing but pixels kept."""

from __future__ import annotations

import io

from PIL import Image

from casefiles import images
from casefiles.images import reencode
from casefiles.pdf_policy import Finding
from tests.support import hostile


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_png_text_and_exif_are_dropped():
    original = hostile.png_with_metadata()
    assert {"Comment", "exif"} <= set(opened(original).info)
    again = reencode(original, "image/png")
    assert isinstance(again, bytes)
    image = opened(again)
    assert image.format == "PNG" and image.size == (40, 30)
    assert image.info == {} and not image.getexif()
    assert image.getpixel((0, 0)) == (200, 30, 30)


def test_jpeg_exif_and_comment_are_dropped_and_the_orientation_applied():
    again = reencode(hostile.jpeg_with_exif(), "image/jpeg")
    assert isinstance(again, bytes)
    image = opened(again)
    assert image.format == "JPEG" and image.size == (30, 40)
    assert not image.getexif() and "comment" not in image.info and "exif" not in image.info


def test_a_palette_png_keeps_its_transparency():
    source = Image.new("P", (4, 4), 1)
    source.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    out = io.BytesIO()
    source.save(out, "PNG", transparency=1)
    again = reencode(out.getvalue(), "image/png")
    assert isinstance(again, bytes)
    assert opened(again).info == {"transparency": 1}


def test_what_does_not_decode_is_refused():
    not_png = Finding(images.NOT_AN_IMAGE, {"kinds": "PNG"})
    assert reencode(hostile.PNG_THEN_HTML, "image/png") == not_png
    truncated = hostile.png_with_metadata()[:-40]
    assert reencode(truncated, "image/png") == not_png
    jpeg_named_png = hostile.jpeg_with_exif()
    assert reencode(jpeg_named_png, "image/png") == not_png


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(out, "PNG")  # 100 megapixels in ~40 KB
    assert len(out.getvalue()) < 100_000
    too_large = Finding(images.TOO_MANY_PIXELS, {"limit": 50})
    assert reencode(out.getvalue(), "image/png") == too_large
