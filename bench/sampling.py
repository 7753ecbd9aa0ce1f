"""Optional sampling profile of the server while a scenario runs (`--profile`, needs py-spy).

py-spy samples only the thread holding the GIL (`--gil`): one worker is one GIL, so that is where
its Python CPU time goes. Native code that releases the GIL (argon2 in a sign-in) is not in that
view; `gil=False` samples every running thread instead. It writes collapsed stacks
(`frame;frame;... count`); `summarize` turns them into the top functions (self time), packages,
and our own functions (inclusive).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_LINE_NO = re.compile(r":\d+\)$")
PROJECT_PACKAGES = frozenset({"idp", "clients", "keys", "levels", "legal_entities"})


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    self_pct: float
    total_pct: float


@dataclass(frozen=True, slots=True)
class Profile:
    """Shares of the samples in which the server held the GIL (its Python CPU time), or in which any
    of its threads was running (`gil=False`)."""

    samples: int
    by_self: list[Hotspot]  # functions on top of the stack
    by_package: list[Hotspot]  # the same, summed per top-level module
    project: list[Hotspot]  # our own functions (idp, clients, keys, levels), inclusive of callees


def py_spy_binary() -> str:
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


def start_recording(pid: int, duration: float, out: Path, *, subprocesses: bool = False,
                    gil: bool = True) -> subprocess.Popen[bytes]:
    """Sample whichever thread of `pid` holds the GIL, for `duration` seconds; with `subprocesses`,
    also its children's (uvicorn's workers, whose samples are summed). Without `gil`, every thread
    that is running is sampled: that also shows work done outside the GIL (argon2 releases it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy_binary(), "record", "--pid", str(pid), "--duration", str(max(1, round(duration))),
               "--format", "raw", "--rate", "200", "--nonblocking", "-o", str(out)]
    if gil:
        command.append("--gil")
    if subprocesses:
        command.append("--subprocesses")
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


def summarize(collapsed: Path, top: int = 15) -> Profile:
    self_samples: Counter[str] = Counter()
    total_samples: Counter[str] = Counter()
    package_samples: Counter[str] = Counter()
    samples = 0
    for stack, count in _stacks(collapsed):
        samples += count
        self_samples[stack[-1]] += count
        package_samples[_package(stack[-1])] += count
        for frame in set(stack):
            total_samples[frame] += count

    def share(counts: Counter[str], name: str) -> float:
        return round(100.0 * counts[name] / samples, 1) if samples else 0.0

    def spots(names: list[str]) -> list[Hotspot]:
        return [Hotspot(n, share(self_samples, n), share(total_samples, n)) for n in names]

    own = [f for f, _ in total_samples.most_common() if _package(f) in PROJECT_PACKAGES]
    return Profile(
        samples=samples,
        by_self=spots([f for f, _ in self_samples.most_common(top)]),
        by_package=[Hotspot(p, share(package_samples, p), share(package_samples, p))
                    for p, _ in package_samples.most_common(top)],
        project=spots(own[:top]),
    )


def _stacks(collapsed: Path) -> Iterator[tuple[list[str], int]]:
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield [_LINE_NO.sub(")", frame) for frame in stack.split(";")], int(count)


def _package(frame: str) -> str:
    """`fn (sqlalchemy/engine/base.py)` -> sqlalchemy; `fn (threading.py)` -> threading."""
    where = frame[frame.rfind("(") + 1:].rstrip(")")
    return where.strip("<>").removeprefix("frozen ").split("/")[0].removesuffix(".py")
