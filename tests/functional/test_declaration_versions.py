"""A case file stays readable under the declaration it was ordered with: the YAML file may get a
new version, change its texts, or disappear, and the dossier, the clerk's step page and
`portal verify`'s data still read the old one (kept in service_versions)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from catalogue import registry
from catalogue.models import Step
from catalogue.registry import Catalogue
from tests.conftest import login
from tests.support.ordering_world import (
    PASSWORD,
    actor_of,
    answers_for,
    clerk_of,
    party_of,
    place,
    slug_of,
)

SHIPPED = Path(registry.__file__).resolve().parent / "services"
OLD_TITLE = "Hund registrieren und Hundetaxe verfügen"
NEW_TITLE = "Hund erfassen (neue Fassung)"


def _catalogue_with(tmp_path: Path, *, change: bool) -> Catalogue:
    folder = tmp_path / ("changed" if change else "without")
    folder.mkdir()
    for path in SHIPPED.glob("*.yaml"):
        if path.stem == "hund-anmelden":
            if not change:
                continue  # the service is gone from the catalogue
            text = path.read_text(encoding="utf-8")
            text = text.replace("version: 1", "version: 2", 1).replace(OLD_TITLE, NEW_TITLE)
            (folder / path.name).write_text(text, encoding="utf-8")
        else:
            shutil.copy(path, folder / path.name)
    catalogue = Catalogue.from_directory(folder)
    assert catalogue.errors == ()
    return catalogue


@pytest.mark.parametrize("change", [True, False], ids=["new-version", "removed"])
def test_the_case_file_reads_under_its_own_version(
    app: Any, demo: Any, runtime: Any, tmp_path: Path, monkeypatch: Any, change: bool
):
    anna = actor_of(runtime, demo["resident"]["login"])
    service = registry.default().get("hund-anmelden")
    assert service is not None
    raw, files = answers_for(service, party_of(runtime, anna), checked=True)
    case_id = place(runtime, anna, "hund-anmelden", raw, files)

    newer = _catalogue_with(tmp_path, change=change)
    monkeypatch.setattr(registry, "default", lambda: newer)

    resident = app.test_client()
    login(resident, demo["resident"])
    dossier = resident.get(f"/cases/{case_id}")
    assert dossier.status_code == 200
    page = dossier.get_data(as_text=True)
    assert OLD_TITLE in page and NEW_TITLE not in page

    with runtime.sessions() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id)).one()
        step_id, authority_id = step.id, step.authority_id
    slug = slug_of(runtime, authority_id)
    assert slug is not None
    clerk_of(runtime, slug)
    clerk = app.test_client()
    login(clerk, {"login": f"clerk@{slug}.test", "password": PASSWORD})
    step_page = clerk.get(f"/office/steps/{step_id}")
    assert step_page.status_code == 200
    page = step_page.get_data(as_text=True)
    assert OLD_TITLE in page and NEW_TITLE not in page
    case_page = clerk.get(f"/cases/{case_id}").get_data(as_text=True)
    assert OLD_TITLE in case_page and NEW_TITLE not in case_page
