"""The intake's child process and what the stored file is called."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from casefiles.documents import Intake, IntakeLimits, Upload, check_upload
from casefiles.errors import InvalidInput
from casefiles.sandbox import Overrun, Sandbox
from tests.conftest import make_pdf
from tests.support import hostile

PDF = {"op": "pdf", "max_pages": 2000}


def test_a_check_that_runs_over_its_time_is_killed_and_the_next_one_runs():
    huge = hostile.many_pages(300_000)  # qpdf takes ~1 s to open it
    with Sandbox(seconds=0.05) as sandbox:
        with pytest.raises(Overrun) as overrun:
            sandbox.run(PDF, huge)
        assert overrun.value.kind == "time"
        answer, _ = sandbox.run(PDF, hostile.launch_link())
        assert "Launch action" in answer["finding"][0]


def test_a_check_that_needs_more_memory_than_the_cap_is_stopped():
    out = io.BytesIO()
    Image.new("1", (8000, 6000), 1).save(out, "PNG")  # 48 megapixels: ~100 MB to decode
    image = {"op": "image", "media_type": "image/png"}
    with Sandbox(memory=96 * 1024 * 1024) as sandbox:
        with pytest.raises(Overrun) as overrun:
            sandbox.run(image, out.getvalue())
        assert overrun.value.kind == "memory"
    with Sandbox() as sandbox:
        answer, payload = sandbox.run(image, out.getvalue())
        assert payload is not None and Image.open(io.BytesIO(payload)).size == (8000, 6000)


def test_the_refusal_of_a_slow_file_names_the_limit():
    with Intake(IntakeLimits(seconds=0.05)) as intake, pytest.raises(InvalidInput) as refused:
        intake.check(Upload("register.pdf", io.BytesIO(hostile.many_pages(300_000))))
    assert str(refused.value) == (
        "The file register.pdf took too long to check (over 0.05 seconds) and was refused."
    )


@pytest.mark.parametrize(
    ("sent", "data", "stored"),
    [
        ("rechnung.html", make_pdf(), "rechnung.html.pdf"),
        ("Brief.PDF", make_pdf(), "Brief.PDF"),
        ("", make_pdf(), "document.pdf"),
        ("..\\..\\windows\\evil.pdf", make_pdf(), "evil.pdf"),
        ("scan.jpeg", hostile.jpeg_with_exif(), "scan.jpeg"),
        ("scan.png", hostile.jpeg_with_exif(), "scan.png.jpg"),
        ("beleg", hostile.png_with_metadata(), "beleg.png"),
    ],
)
def test_the_stored_name_ends_in_the_extension_of_the_sniffed_type(sent, data, stored):
    allowed = ("application/pdf", "image/png", "image/jpeg")
    checked = check_upload(Upload(sent, io.BytesIO(data)), allowed=allowed)
    try:
        assert checked.filename == stored
    finally:
        checked.close()
