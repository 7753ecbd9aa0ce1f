"""Optional sampling profile of the server while a scenario runs (`--profile`, needs py-spy).

py-spy writes collapsed stacks (`frame;frame;... count`); `summarize` turns them into the
functions with the most samples on top of the stack (self) and anywhere in it (total).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LINE_NO = re.compile(r":\d+\)$")


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    self_pct: float
    total_pct: float


def py_spy_binary() -> str:
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


def start_recording(pid: int, duration: float, out: Path) -> subprocess.Popen[bytes]:
    """Sample `pid` for `duration` seconds (busy threads only, py-spy's default)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy_binary(), "record", "--pid", str(pid), "--duration", str(max(1, round(duration))),
               "--format", "raw", "--rate", "200", "--nonblocking", "--gil", "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_recording(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """Wait for py-spy; return its error text if it failed."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        return "py-spy did not finish in time"
    return None if proc.returncode == 0 else err.decode(errors="replace").strip()


def summarize(collapsed: Path, top: int = 20) -> tuple[list[Hotspot], list[Hotspot]]:
    """Return the top functions by self share and by total (inclusive) share of busy samples."""
    self_samples: Counter[str] = Counter()
    total_samples: Counter[str] = Counter()
    busy = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_LINE_NO.sub(")", f) for f in stack.split(";")]
        if _is_idle(frames[-1]):
            continue
        count = int(count_text)
        busy += count
        self_samples[frames[-1]] += count
        for frame in set(frames):
            total_samples[frame] += count
    if not busy:
        return [], []

    def spot(fn: str) -> Hotspot:
        return Hotspot(fn, 100.0 * self_samples[fn] / busy, 100.0 * total_samples[fn] / busy)

    return ([spot(fn) for fn, _ in self_samples.most_common(top)],
            [spot(fn) for fn, _ in total_samples.most_common(top)])


def _is_idle(leaf: str) -> bool:
    # Threads parked in the pool or the event loop waiting for I/O are not work.
    return any(name in leaf for name in ("wait (threading.py", "_worker (concurrent", "select (selectors.py",
                                         "run_forever (asyncio", "get (queue.py"))
