"""The README's example declaration is a valid service: the README stays true."""

from __future__ import annotations

import re
from pathlib import Path

from catalogue.registry import Catalogue

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_example_declares_a_valid_service(tmp_path):
    (block,) = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    service_id = re.search(r"^id: (\S+)$", block, re.M)
    assert service_id is not None
    (tmp_path / f"{service_id.group(1)}.yaml").write_text(block, encoding="utf-8")
    catalogue = Catalogue.from_directory(tmp_path)
    assert catalogue.errors == ()
    service = catalogue.get(service_id.group(1))
    assert service is not None and service.title.get("fr") == "Désinscrire un chien"
    assert [f.name for f in service.form] == ["dog_name", "reason"]
