"""What a web process loads: the PDF parser (pikepdf, qpdf) only in the intake checker's child
process (`casefiles.sandbox`), never in the app or the WSGI entry point; and always our
`mailbox`, not the standard library's (DESIGN.md, "The mailbox name")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import app.factory
after_factory = {"pikepdf": "pikepdf" in sys.modules, "mailbox": "mailbox" in sys.modules}
import wsgi
mailbox = sys.modules.get("mailbox")
print(json.dumps({
    "after_factory": after_factory,
    "after_wsgi": {"pikepdf": "pikepdf" in sys.modules, "app": type(wsgi.app).__name__},
    "mailbox": getattr(mailbox, "__file__", None),
    "stdlib_mailbox": getattr(mailbox, "mbox", None) is not None,
}))
"""


def _probe(tmp_path: Path, runtime, code: str, env: dict[str, str] | None = None) -> dict:
    """The probe's last line of output (JSON); `env`: instead of the instance's settings."""
    env = env if env is not None else {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    # From another directory, as gunicorn is started by an operator: `import app` puts the
    # project root first on sys.path, which is also where `wsgi` is found.
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_web_process_loads_no_pdf_parser_and_our_mailbox(tmp_path, runtime):
    seen = _probe(tmp_path, runtime, PROBE)
    assert seen["after_factory"] == {"pikepdf": False, "mailbox": False}
    assert seen["after_wsgi"] == {"pikepdf": False, "app": "Flask"}
    assert seen["mailbox"] == str(ROOT / "mailbox" / "__init__.py")
    assert seen["stdlib_mailbox"] is False


def test_the_probe_would_see_pikepdf_where_it_is_loaded(tmp_path, runtime):
    # The same probe in the checker's child: there the parser is loaded (so the test above
    # cannot pass merely because the probe looks in the wrong place).
    code = (
        "import json, sys, app; import casefiles.pdf_policy; "
        "print(json.dumps({'pikepdf': 'pikepdf' in sys.modules}))"
    )
    assert _probe(tmp_path, runtime, code) == {"pikepdf": True}


LAYERS = ("catalogue", "mailbox", "casefiles", "directory", "signing", "storage")
NO_FLASK = """
import importlib, json, pkgutil, sys
sys.path.insert(0, ROOT)  # our `mailbox` before the standard library's
imported = []
for name in LAYERS:
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        if ".migrations" in info.name:
            continue  # Alembic's scripts run inside Alembic, not as modules
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({"flask": sorted(m for m in sys.modules if m.split(".")[0] in
                  ("flask", "flask_babel", "flask_login", "flask_wtf", "werkzeug")),
                  "imported": imported}))
"""


def test_nothing_below_app_imports_flask(tmp_path, runtime):
    # Every domain operation (who is reachable, who may reply, idempotency keys, the login's
    # transactions) lives below app/ and can be called without a request.
    code = f"ROOT = {str(ROOT)!r}; LAYERS = {LAYERS!r}\n" + NO_FLASK
    seen = _probe(tmp_path, runtime, code)
    assert seen["flask"] == []
    for module in (
        "mailbox.idempotency",
        "mailbox.reachability",
        "mailbox.replies",
        "directory.login",
    ):
        assert module in seen["imported"]


EXPORT_PROBE = """
import atexit, json, sys
HEAVY = ("redis", "rq", "pyhanko", "jsonschema", "flask", "pikepdf")
atexit.register(lambda: print(json.dumps(sorted(
    {m.split(".")[0] for m in sys.modules} & set(HEAVY))), flush=True))
sys.argv = ["portal", *ARGS]
from app.entry import main
main()
"""


def test_portal_export_loads_only_what_it_uses(tmp_path, runtime):
    """`portal export` on a gigabyte is timed against a floor (bench/export.py), start-up
    included: it loads no job queue, PDF signer, schema checker or web framework (the other
    commands load theirs when named, app/cli.py)."""
    from tests.support.export_world import build_case

    case_id = build_case(runtime, documents=1, receipt=False)
    target = tmp_path / "x.zip"
    args = ["export", str(case_id), "--format", "bagit", "-o", str(target)]
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    env.pop("PORTAL_REDIS_URL", None)  # as on the embedded profile: no Redis to talk to
    assert _probe(tmp_path, runtime, f"ARGS = {args!r}\n" + EXPORT_PROBE, env) == []
    assert target.is_file()

    # `portal verify PATH` as well: pyHanko only for a package with a signed PDF in it.
    verify = ["verify", str(target)]
    no_instance = {"PATH": "/usr/bin:/bin"}
    loaded = _probe(tmp_path, runtime, f"ARGS = {verify!r}\n" + EXPORT_PROBE, no_instance)
    signed = b"/ByteRange" in target.read_bytes()
    assert loaded == (["pyhanko"] if signed else [])
