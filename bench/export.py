"""`portal export` and `portal verify PATH` against their floors, on one large case file.

    .venv/bin/python -m bench.export                      (or: make bench-export)
    .venv/bin/python -m bench.export --documents 50 --size 1000000 --repeat 1
    .venv/bin/python -m bench.export --services           (PostgreSQL instead of SQLite)
    .venv/bin/python -m bench.export --documents 50 --profile /tmp/prof   (cProfile of each run)

Builds, in a temporary instance (SQLite and a folder store; PostgreSQL with --services), one case
file of N PDF documents of S bytes (default: the issue's 1,000 x 1 MB) with the portal's own
operations: each file checked by the intake policy, then `add_document` (stored encrypted,
journalled and signed). The build is timed but not measured. Then, --repeat times, the median
counted:
  export:  `portal export ID --format F -o PATH` as a subprocess: wall time, MB/s of document
           bytes, peak memory (the child's ru_maxrss from wait4);
  floor:   the same objects read through the same store (decrypted) and written into a zip in
           this process with plain zipfile and the export's compression;
  verify:  `portal verify PATH` as a subprocess: wall time;
  floor:   every member of the same package read from the zip and hashed (SHA-256), and the
           case file's journal signatures (ECDSA P-256, as many) checked with cryptography.
Targets (issue #10): export >= 50 % of its floor, peak memory <= 200 MB, verify >= 50 %.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The project root first: `mailbox` must be ours, not the standard library's (see DESIGN.md).
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

import app.models  # noqa: E402, F401  (every model registered, as `portal` has them)
from app.config import Config  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from bench.export_floors import compression_of, export_floor, signatures, verify_floor  # noqa: E402
from bench.measure import MB, timed  # noqa: E402
from bench.world import base_pdf, create_database, letter_pdf, portal_env, seed  # noqa: E402
from casefiles.documents import Intake, Upload  # noqa: E402
from casefiles.models import CaseFile  # noqa: E402
from casefiles.operations import add_document, open_case  # noqa: E402
from directory.actors import Actor  # noqa: E402
from directory.models import ApiClient, Party  # noqa: E402

BIN = Path(sys.executable).parent
FORMATS = ("bagit", "ech0160")
EXPORT_RATIO, VERIFY_RATIO, PEAK_MB = 0.5, 0.5, 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000, help="documents in the case file")
    parser.add_argument("--size", type=int, default=MB, help="bytes of each document (PDF)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each; the median")
    parser.add_argument("--formats", default=",".join(FORMATS), help="bagit,ech0160")
    parser.add_argument(
        "--services", action="store_true", help="PostgreSQL instead of SQLite (folder store)"
    )
    parser.add_argument("--profile", type=Path, help="after the rounds, cProfile each subprocess")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]

    missing = _missing_commands()
    if missing:
        print("not ready: " + "; ".join(missing), file=sys.stderr)
        return 2
    work_parent = ROOT.parent  # the project's disk, as the other benches
    # Objects, one package per format and the floor's zip, with some room.
    need = int(args.documents * args.size * (2 + len(formats)) * 1.1) + 500 * MB
    free = shutil.disk_usage(work_parent).free
    if free < need:
        print(
            f"not enough free disk space in {work_parent}: {free / MB:.0f} MB free, about "
            f"{need / MB:.0f} MB needed for {args.documents} x {args.size} bytes",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="portal-bench-export-", dir=work_parent))
    if args.services:
        database_url, drop_database = create_database()
    else:
        database_url, drop_database = f"sqlite:///{work / 'portal.sqlite3'}", lambda: None
    runtime = None
    try:
        settings = portal_env(work, database_url)
        settings.pop("PORTAL_REDIS_URL", None)  # no worker: jobs run in-process
        os.environ.pop("PORTAL_REDIS_URL", None)
        os.environ.update(settings)
        subprocess.run(
            [str(BIN / "portal"), "db", "upgrade"], check=True, cwd=work, capture_output=True
        )
        runtime = Runtime(Config.from_env())
        started = time.perf_counter()
        case_id, doc_bytes = build_case(runtime, args.documents, args.size)
        print(
            f"built case file {case_id}: {args.documents} documents, {doc_bytes / MB:.0f} MB "
            f"in {time.perf_counter() - started:.0f} s (not measured)",
            flush=True,
        )
        rows, startup = rounds(runtime, work, case_id, doc_bytes, formats, args.repeat)
        report(args, doc_bytes, startup, rows)
        if args.profile:
            profile(work, case_id, formats, args.profile)
        return 0 if all(r["ok"] for r in rows) else 1
    finally:
        if runtime is not None:
            runtime.close()
        if args.keep:
            print(f"kept: {database_url} and {work}")
        else:
            drop_database()
            shutil.rmtree(work, ignore_errors=True)


def _missing_commands() -> list[str]:
    """What of H3/H4's commands is not there yet (the bench needs both)."""
    missing = []
    for command in (["export", "--help"], ["verify", "--help"]):
        out = subprocess.run([str(BIN / "portal"), *command], capture_output=True, text=True)
        if out.returncode != 0:
            missing.append(f"`portal {command[0]}` is not available")
    verify_help = subprocess.run(
        [str(BIN / "portal"), "verify", "--help"], capture_output=True, text=True
    ).stdout
    if "--ca" not in verify_help:
        missing.append("`portal verify PATH` (--ca) is not there yet")
    return missing


def build_case(runtime: Runtime, documents: int, size: int) -> tuple[uuid.UUID, int]:
    """One case file of `documents` PDFs of about `size` bytes, each one different, through the
    intake policy and `add_document`; its id and the documents' total bytes."""
    seed(runtime, 1, False)  # one resident, the authority and its API client
    base = base_pdf(size)
    if abs(len(base) - size) > size // 50:  # the image's encoding adds about a quarter
        base = base_pdf(max(size * size // len(base), 20_000))
    total = 0
    with runtime.transaction() as session:
        client = session.scalars(select(ApiClient)).one()
        actor = Actor.for_api_client(client)
        party = session.scalars(select(Party)).one()
        case = open_case(
            session,
            actor,
            title="Baubewilligung Bench, Gesamtakte",
            authority=client.authority,
            parties=[(party, "recipient")],
        )
        case_id = case.id
    with Intake() as intake:
        for start in range(0, documents, 50):  # one transaction per 50 documents
            with runtime.transaction() as session:
                client = session.scalars(select(ApiClient)).one()
                actor = Actor.for_api_client(client)
                case = session.get_one(CaseFile, case_id)
                for i in range(start, min(start + 50, documents)):
                    data = letter_pdf(base, i)
                    upload = Upload(f"beilage-{i:04d}.pdf", io.BytesIO(data))
                    checked = intake.check(upload)
                    try:
                        add_document(session, actor, case, checked, title=f"Beilage {i}")
                    finally:
                        checked.close()
                    total += len(data)
    return case_id, total


def rounds(
    runtime: Runtime,
    work: Path,
    case_id: uuid.UUID,
    doc_bytes: int,
    formats: list[str],
    repeat: int,
) -> tuple[list[dict[str, Any]], float]:
    """Each measurement `repeat` times, interleaved; one row per (what, format) with medians
    (the ratio: the median of each round's), and the median start-up time of `portal`."""
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    ok: dict[tuple[str, str], bool] = {}
    sizes: dict[str, int] = {}
    signed = signatures(runtime, case_id)
    startups = []
    for number in range(1, repeat + 1):
        startups.append(timed([str(BIN / "portal"), "--help"], work)[0])
        for packaging in formats:
            package = work / f"export-{packaging}.zip"
            package.unlink(missing_ok=True)
            command = ["export", str(case_id), "--format", packaging, "-o", str(package)]
            seconds, peak, code, err = timed([str(BIN / "portal"), *command], work)
            ok[("export", packaging)] = code == 0 and ok.get(("export", packaging), True)
            if code != 0:
                print(f"portal export --format {packaging} failed ({code}): {err}", flush=True)
                continue
            sizes[packaging] = package.stat().st_size
            floor_s = export_floor(runtime, case_id, work / "floor.zip", compression_of(package))
            _add(samples, ("export", packaging), seconds, floor_s, peak)
            seconds, peak, code, err = timed([str(BIN / "portal"), "verify", str(package)], work)
            ok[("verify", packaging)] = code == 0 and ok.get(("verify", packaging), True)
            if code != 0:
                print(f"portal verify ({packaging}) exited {code}: {err}", flush=True)
            _add(samples, ("verify", packaging), seconds, verify_floor(package, signed), peak)
            print(
                f"round {number} {packaging}: export {samples['export', packaging]['s'][-1]:.2f} s"
                f" (floor {samples['export', packaging]['floor'][-1]:.2f} s), verify "
                f"{seconds:.2f} s (floor {samples['verify', packaging]['floor'][-1]:.2f} s)",
                flush=True,
            )
    rows = []
    for (what, packaging), sample in samples.items():
        volume = doc_bytes if what == "export" else sizes[packaging]
        rows.append(
            {
                "what": what,
                "format": packaging,
                "mb": volume / MB,
                "s": statistics.median(sample["s"]),
                "floor": statistics.median(sample["floor"]),
                "ratio": statistics.median(
                    f / s for f, s in zip(sample["floor"], sample["s"], strict=True)
                ),
                "peak": statistics.median(sample["peak"]),
                "ok": ok[(what, packaging)],
                "signatures": len(signed),
            }
        )
    rows += [
        {"what": what, "format": p, "ok": False, "failed": True}
        for (what, p), good in ok.items()
        if not good and (what, p) not in samples
    ]
    return rows, statistics.median(startups)


def _add(
    samples: dict[tuple[str, str], dict[str, list[float]]],
    key: tuple[str, str],
    seconds: float,
    floor_s: float,
    peak: float,
) -> None:
    sample = samples.setdefault(key, {"s": [], "floor": [], "peak": []})
    sample["s"].append(seconds)
    sample["floor"].append(floor_s)
    sample["peak"].append(peak)


def report(args: argparse.Namespace, doc_bytes: int, startup: float, rows: list[dict]) -> None:
    print()
    print(
        f"case file: {args.documents} documents x {args.size} bytes = {doc_bytes / MB:.0f} MB; "
        f"median of {args.repeat}; `portal --help` alone takes {startup:.2f} s (median)"
    )
    # Another program's work slows both sides, but not equally: say how busy the machine was.
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
    print(
        f"{'':16}{'MB':>7}{'s':>8}{'MB/s':>8}{'floor s':>9}{'floor MB/s':>11}"
        f"{'ratio':>7}{'peak MB':>9}{'ratio w/o startup':>19}"
    )
    verdicts = []
    for row in rows:
        label = f"{row['what']} {row['format']}"
        if row.get("failed"):
            print(f"{label:16}failed (see above)")
            verdicts.append(f"{label}: FAILED, no figure")
            continue
        mbs, floor_mbs = row["mb"] / row["s"], row["mb"] / row["floor"]
        ratio = row["ratio"]
        print(
            f"{label:16}{row['mb']:7.0f}{row['s']:8.2f}{mbs:8.0f}{row['floor']:9.2f}"
            f"{floor_mbs:11.0f}{100 * ratio:6.0f}%{row['peak']:9.0f}"
            + (f"{100 * row['floor'] / (row['s'] - startup):18.0f}%" if row["s"] > startup else "")
        )
        target = EXPORT_RATIO if row["what"] == "export" else VERIFY_RATIO
        verdicts.append(
            f"{label} throughput {100 * ratio:.0f} % of its floor (target >= "
            f"{100 * target:.0f} %): {'met' if ratio >= target else 'MISSED'}"
            + ("" if row["ok"] else " -- but the command failed at least once")
        )
        if row["what"] == "export":
            verdicts.append(
                f"{label} peak memory {row['peak']:.0f} MB (target <= {PEAK_MB} MB): "
                f"{'met' if row['peak'] <= PEAK_MB else 'MISSED'}"
            )
    signatures = next((r["signatures"] for r in rows if "signatures" in r), 0)
    print(f"(verify floor: every member hashed and {signatures} journal signatures checked;")
    print(" ratio: median of the rounds' floor/command; 'w/o startup': the median floor over the")
    print(" median command time less that of `portal --help`, for orientation only)")
    print()
    for verdict in verdicts:
        print(verdict)


def profile(work: Path, case_id: uuid.UUID, formats: list[str], folder: Path) -> None:
    """One more export and verify per format under cProfile; the files and the top entries."""
    import pstats

    folder.mkdir(parents=True, exist_ok=True)
    for packaging in formats:
        package = work / f"export-{packaging}.zip"
        package.unlink(missing_ok=True)
        export = ["export", str(case_id), "--format", packaging, "-o", str(package)]
        for what, command in (("export", export), ("verify", ["verify", str(package)])):
            out = folder / f"{what}-{packaging}.prof"
            python = [str(BIN / "python"), "-m", "cProfile", "-o", str(out), str(BIN / "portal")]
            subprocess.run([*python, *command], cwd=work, capture_output=True)
            print(f"\n== cProfile of portal {what} ({packaging}): {out}")
            pstats.Stats(str(out)).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    sys.exit(main())
