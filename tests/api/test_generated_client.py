"""A specialist application that generates its client from /api/v1/openapi.json
(openapi-python-client, as the README suggests) gets every model and operation without a
warning, and delivers, follows and fetches the receipt through it, against the running portal."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.api.support import open_as_resident
from tests.conftest import make_pdf, wait_for

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "portal_api_client"
# No post hooks: the generator would run ruff over the code it wrote, which is its business,
# not this test's (and prints "ruff is not in PATH" where it is missing).
CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture
def generated(live_server: str, tmp_path: Path) -> Iterator[tuple[ModuleType, str]]:
    """The client package generated from the live document, imported; and the generator's
    output."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    target = tmp_path / PACKAGE
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--url",
            f"{live_server}/api/v1/openapi.json",
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(target),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE), output
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_the_document_generates_a_client_without_warnings(generated):
    package, output = generated
    assert "warning" not in output.lower(), output
    assert "Unable to" not in output and "Unsupported" not in output, output
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("Delivery", "DeliveryCreated", "DeliveryLinks", "Receipt", "Problem", "Case"):
        assert hasattr(models, name), name
    operations = importlib.import_module(f"{PACKAGE}.api.default")
    for name in ("create_delivery", "get_delivery", "get_receipt", "download_document"):
        assert (Path(operations.__file__).parent / f"{name}.py").exists(), name


def test_deliver_follow_and_fetch_the_receipt_through_a_generated_client(
    generated, live_server, app, demo
):
    package, _ = generated
    models = importlib.import_module(f"{PACKAGE}.models")
    api = importlib.import_module(f"{PACKAGE}.api.default")
    create_delivery = importlib.import_module(f"{api.__name__}.create_delivery")
    get_delivery = importlib.import_module(f"{api.__name__}.get_delivery")
    get_receipt = importlib.import_module(f"{api.__name__}.get_receipt")
    download_document = importlib.import_module(f"{api.__name__}.download_document")
    types = importlib.import_module(f"{PACKAGE}.types")

    client = package.AuthenticatedClient(
        base_url=f"{live_server}/api/v1", token=demo["api_client"]["api_key"]
    )
    document = make_pdf("Verfügung über einen generierten Client")
    upload = models.DeliveryUpload(
        metadata=models.DeliveryMetadata(
            recipient=models.PersonNumber(ahvn13=demo["resident"]["ahvn13"]),
            kind=models.DeliveryMetadataKind.DECISION,
            subject="Baubewilligung Nr. 2026-42",
            appeal_period_days=30,
        ),
        files=[
            types.File(
                payload=io.BytesIO(document),
                file_name="verfuegung.pdf",
                mime_type="application/pdf",
            )
        ],
    )
    with client as http:
        created = create_delivery.sync(client=http, body=upload)
        assert isinstance(created, models.DeliveryCreated), created
        assert created.status == models.DeliveryStatus.AVAILABLE
        delivery_id = uuid.UUID(str(created.delivery_id))

        status = get_delivery.sync(client=http, delivery_id=delivery_id)
        assert isinstance(status, models.Delivery), status
        assert status.subject == "Baubewilligung Nr. 2026-42"
        assert status.appeal_period_days == 30
        [doc] = status.documents
        download = download_document.sync(client=http, document_id=uuid.UUID(str(doc.id)))
        assert isinstance(download, types.File) and download.payload.read() == document

        not_yet = get_receipt.sync(client=http, delivery_id=delivery_id)
        assert isinstance(not_yet, models.Problem) and not_yet.code == "receipt_not_available"

        open_as_resident(app, demo["resident"], str(delivery_id))
        opened = get_delivery.sync(client=http, delivery_id=delivery_id)
        assert opened.status == models.DeliveryStatus.OPENED

        def receipt():
            # The receipt is sealed by a job (in the worker process in the services profile);
            # until it is filed the answer is 409 receipt_pending.
            answer = get_receipt.sync(client=http, delivery_id=delivery_id)
            if isinstance(answer, models.Problem):
                assert answer.code == "receipt_pending", answer
                return None
            return answer

        signed = wait_for(receipt)
    assert isinstance(signed, models.Receipt)
    assert signed.receipt["delivery_id"] == str(delivery_id)
    assert signed.receipt["opened_by"] == "Anna Muster"
    assert signed.jws.count(".") == 2
    assert signed.journal.case_id == created.case_id
