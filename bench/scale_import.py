"""Running the real `idp people import` on a file, as an operator would, and what it cost.

The command runs as a child process with IDP_DATABASE_URL at the benchmark's database. Its wall
time gives rows per second (start-up included), and `wait4` gives that one child's peak resident
set size, so the figure is the importer's own and not any other child's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server import server_env

_IDP = Path(sys.executable).with_name("idp")


@dataclass(frozen=True, slots=True)
class ImportRun:
    rows: int
    seconds: float
    rows_per_second: float
    peak_rss_mib: float
    # The child's own CPU time (user + system): on a shared machine rows per CPU second shows what
    # a core to itself would do; the database server's work is not in it.
    cpu_seconds: float
    rows_per_cpu_second: float
    counts: dict[str, int]


def run_import(csv_file: Path, database_url: str, rows: int, log_path: Path, timeout: float) -> ImportRun:
    """Import `csv_file` (of `rows` rows); raise if the command fails or outlives `timeout` seconds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    summary = log_path.with_suffix(".json")
    command = [str(_IDP), "people", "import", "--json", str(csv_file)]
    with log_path.open("wb") as log, summary.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(command, env=server_env({"IDP_DATABASE_URL": database_url}),
                                stdout=out, stderr=log, stdin=subprocess.DEVNULL)
        try:
            status, usage = _wait(proc, started + timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.monotonic() - started
    if status != 0:
        raise RuntimeError(f"idp people import exited with {status}; see {log_path}")
    totals = json.loads(summary.read_text())
    counts = {k: int(totals[k]) for k in ("created", "updated", "unchanged", "rejected")}
    cpu = usage.ru_utime + usage.ru_stime
    return ImportRun(rows=rows, seconds=round(seconds, 2), rows_per_second=round(rows / seconds),
                     peak_rss_mib=round(usage.ru_maxrss / 1024, 1), cpu_seconds=round(cpu, 2),
                     rows_per_cpu_second=round(rows / cpu), counts=counts)


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, Any]:
    """Reap the child with wait4, which reports its own resource usage (ru_maxrss in KiB)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            raise TimeoutError("idp people import did not finish in time")
        time.sleep(0.05)
