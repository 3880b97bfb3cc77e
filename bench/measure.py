"""A command timed from outside: wall seconds and its own peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

MB = 1_000_000


# Measures a command from a small Python of its own: a child that the bench forked directly
# would report the bench's own peak (Linux keeps ru_maxrss across the vfork + exec that
# subprocess uses), so the figure would be the bench's memory, not the command's.
_MEASURE = """import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(f"{seconds} {peak}")
sys.exit(code)
"""


def timed(command: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Run `command`; its wall seconds, peak resident memory in MB (ru_maxrss, KiB on Linux;
    includes the ~10 MB of the measuring Python it was forked from), exit code and the end of
    its error output."""
    # Every measurement starts with nothing of the last one waiting to reach the disk: an
    # fsync (the export's, before its rename) would otherwise pay for earlier writes too.
    os.sync()
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as err:
        figures = Path(folder) / "figures"
        measure = [sys.executable, "-I", "-S", "-c", _MEASURE, str(figures)]
        code = subprocess.run(
            [*measure, *command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err
        ).returncode
        seconds, peak_kib = figures.read_text().split()
        err.seek(0)
        message = err.read().decode(errors="replace").strip().splitlines()[-3:]
    return float(seconds), int(peak_kib) * 1024 / MB, code, " | ".join(message)
