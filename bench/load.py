"""Load generation: the scenarios, and wrk for the single-request ones (results read from the Lua
`done()` hook). Sign-ins are many requests each; `signin_load` drives those."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_DIR = Path(__file__).parent / "wrk"
WRK_TIMEOUT = "5s"  # a request slower than this counts as a timeout error
_RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    script: str  # file under bench/wrk/ ("" for a sign-in)
    uses_refresh_tokens: bool = False
    signin: str | None = None  # "password" or "sms": a whole sign-in per unit, driven by signin_load

    @property
    def unit(self) -> str:
        return "sign-ins/s" if self.signin else "req/s"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("client_credentials", "/token", "client_credentials.lua"),
    Scenario("refresh_token", "/token", "refresh_token.lua", uses_refresh_tokens=True),
    Scenario("discovery", "/.well-known/openid-configuration", "get.lua"),
    Scenario("jwks", "/jwks", "get.lua"),
    Scenario("signin_password", "/authorize", "", signin="password"),
    Scenario("signin_sms", "/authorize", "", signin="sms"),
)


@dataclass(frozen=True, slots=True)
class Load:
    duration: float
    connections: int
    threads: int


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    non_2xx_3xx: int
    socket_errors: int
    timeouts: int
    tokens_exhausted: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p99_9_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + self.socket_errors + self.timeouts


def wrk_binary() -> str:
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if found is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    return found


def run_wrk(scenario: Scenario, base_url: str, load: Load, env: dict[str, str],
            pin: list[str] | None = None) -> WrkResult:
    """Run wrk for `load.duration` seconds; `env` carries BENCH_AUTHORIZATION / BENCH_TOKENS_FILE;
    `pin` prefixes the command (taskset)."""
    command = [
        *(pin or []), wrk_binary(), "-t", str(load.threads), "-c", str(load.connections), "-d", f"{load.duration:g}s",
        "--timeout", WRK_TIMEOUT, "--latency", "-s", str(WRK_DIR / scenario.script), base_url + scenario.path,
    ]
    full_env = {**os.environ, **env, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_THREADS": str(load.threads)}
    done = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=load.duration + 60,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk_output(done.stdout)


def parse_wrk_output(stdout: str) -> WrkResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(_RESULT_PREFIX)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no {_RESULT_PREFIX.strip()} line:\n{stdout}")
    raw = json.loads(line.removeprefix(_RESULT_PREFIX))

    def ms(key: str) -> float:
        return round(float(raw[key]) / 1000.0, 3)

    return WrkResult(
        requests=int(raw["requests"]), duration_s=raw["duration_us"] / 1e6,
        non_2xx_3xx=int(raw["non_2xx_3xx"]),
        socket_errors=int(raw["connect_errors"] + raw["read_errors"] + raw["write_errors"]),
        timeouts=int(raw["timeouts"]), tokens_exhausted=int(raw["tokens_exhausted"]),
        p50_ms=ms("p50_us"), p90_ms=ms("p90_us"), p99_ms=ms("p99_us"), p99_9_ms=ms("p99_9_us"),
        mean_ms=ms("mean_us"), max_ms=ms("max_us"),
    )
