"""A million people: import speed and memory, the Redis cost of live sessions, and whether sign-in,
refresh and userinfo slow down when the tables hold 10⁶ people instead of 10³.

Phases (each timed):
1. files: generate the CSV files of fictional people (cached under var/bench/ by size);
2. import: `idp people import` of the smaller size into its own throw-away database (for the memory
   comparison), then of the small (10³) and the full size into the two databases the servers use;
3. sessions: live SSO sessions opened by the provider's own code in the full-size database and its
   Redis prefix, plus as many refresh tokens; bytes per session with MEMORY USAGE;
4. latency: a server on each database (same settings), a pool of people given passwords in each,
   sign-in, refresh and userinfo one request at a time, alternating between the two servers;
5. indexes: EXPLAIN of every lookup on those paths, and the tables' scan counters during phase 4.

Every database and Redis prefix is the run's own and is removed at the end, whatever happens
(Ctrl-C, SIGTERM, an error, or the time limit). Prints a summary and writes var/bench/scale.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import people_file
import redis
from fixtures import (
    PORTAL_ID,
    REFRESH_SCOPE,
    Backend,
    Fixture,
    issue_refresh_tokens,
    new_kek,
    postgres_redis_backend,
    prepare,
)
from scale_import import ImportRun, run_import
from scale_indexes import BIG_TABLES, counter_delta, explain_all, sample_values, table_counters
from scale_latency import Counts, Driver, Target, measure, percentile, set_passwords
from scale_sessions import open_sessions
from server import free_port, running_server
from sqlalchemy import text

from idp.settings import Settings
from idp.storage.database import make_engine
from levels.authenticators.password import Passwords

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "var" / "bench"
REDIRECT_URI = "https://portal.example/cb"
TARGET_ROWS_PER_SECOND = 20_000
TARGET_SESSION_BYTES = 2_048
TARGET_LATENCY_DIFFERENCE = 10.0  # percent


class TimeLimitReached(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Options:
    people: int
    small: int
    rss_people: int
    sessions: int
    pool: int
    counts: Counts
    time_limit: float


@dataclass(slots=True)
class Report:
    started_at: str
    options: dict[str, Any]
    host: dict[str, Any]
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    imports: dict[str, Any] = field(default_factory=dict)
    sessions: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    indexes: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=1_000_000, help="people in the large database (default 10⁶)")
    p.add_argument("--small", type=int, default=1_000, help="people in the small database (default 10³)")
    p.add_argument("--rss-people", type=int, default=None,
                   help="size of the import whose peak memory is compared with the full one (default 10⁵, "
                        "or a tenth of --people when that is smaller)")
    p.add_argument("--sessions", type=int, default=100_000, help="live SSO sessions to open (default 10⁵)")
    p.add_argument("--pool", type=int, default=32, help="people given a password in each database (default 32)")
    p.add_argument("--signins", type=int, default=200, help="measured sign-ins per server (default 200)")
    p.add_argument("--refreshes", type=int, default=1_000, help="measured refreshes per server (default 1000)")
    p.add_argument("--userinfos", type=int, default=1_000, help="measured userinfo requests per server (default 1000)")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured requests of each kind first (default 20)")
    p.add_argument("--time-limit", type=float, default=900, help="stop (and clean up) after this many seconds")
    a = p.parse_args(argv)
    rss_people = a.rss_people if a.rss_people is not None else min(100_000, a.people // 10)
    if not (0 < a.small <= a.people and 0 < rss_people <= a.people and a.pool > 0 and a.sessions >= 0):
        p.error("need 0 < --small <= --people, 0 < --rss-people <= --people, --pool > 0, --sessions >= 0")
    if min(a.signins, a.refreshes, a.userinfos) < 1 or a.warmup < 1 or a.pool > a.small:
        p.error("need at least one measured and one warm-up request of each kind, and --pool <= --small")
    return Options(people=a.people, small=a.small, rss_people=rss_people, sessions=a.sessions, pool=a.pool,
                   counts=Counts(a.signins, a.refreshes, a.userinfos, a.warmup), time_limit=a.time_limit)


# -- phases -------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def phase(report: Report, name: str) -> Iterator[None]:
    log(f"== {name}")
    started = time.monotonic()
    try:
        yield
    finally:
        report.phases[name] = round(time.monotonic() - started, 1)
        log(f"   {name}: {report.phases[name]:.1f} s")


@dataclass(frozen=True, slots=True)
class Database:
    """A throw-away PostgreSQL database and Redis prefix, prepared like the benchmark's, with people."""

    backend: Backend
    settings: Settings
    fixture: Fixture
    people: int


def _settings(backend: Backend, port: int) -> Settings:
    return Settings(issuer=f"http://127.0.0.1:{port}", database_url=backend.database_url, kek=new_kek(),
                    redis_url=backend.redis_url, redis_prefix=backend.redis_prefix)


def _open_database(stack: ExitStack, people: int) -> Database:
    backend = stack.enter_context(postgres_redis_backend())
    stack.callback(_drop_prefix_fast, backend)  # runs first: the fixture's own flush is key by key
    settings = _settings(backend, free_port())
    log(f"   database {backend.database_url.rsplit('/', 1)[1].split('?')[0]}, Redis prefix {backend.redis_prefix}"
        " (both removed at the end)")
    return Database(backend, settings, prepare(backend, settings), people)


def _drop_prefix_fast(backend: Backend) -> None:
    assert backend.redis_url is not None
    client = redis.Redis.from_url(backend.redis_url)
    try:
        batch = []
        for key in client.scan_iter(match=backend.redis_prefix + "*", count=10_000):
            batch.append(key)
            if len(batch) >= 5_000:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)
    finally:
        client.close()


def _import(report: Report, label: str, csv_file: Path, database: Database, opts: Options) -> ImportRun:
    # The time limit's alarm stops the whole run (killing the child); the timeout is a second guard.
    run = run_import(csv_file, database.backend.database_url, database.people,
                     OUT_DIR / f"scale-import-{label}.log", timeout=opts.time_limit)
    report.imports[label] = asdict(run)
    log(f"   {label}: {run.rows:,} rows in {run.seconds:.1f} s = {run.rows_per_second:,} rows/s "
        f"({run.rows_per_cpu_second:,} per CPU second of the importer), peak RSS {run.peak_rss_mib:.0f} MiB, "
        f"{run.counts}")
    return run


def _analyze(database: Database) -> None:
    engine = make_engine(database.backend.database_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))  # what autovacuum would have done after the load
    finally:
        engine.dispose()


def _pool(database: Database, size: int) -> list[tuple[str, str]]:
    """`size` imported people (id, national code) spread over the whole table."""
    engine = make_engine(database.backend.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, national_code FROM people WHERE id <> :own ORDER BY random() LIMIT :n"),
                {"own": database.fixture.person_id, "n": size},
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1]) for r in rows]


def _person_ids(database: Database, count: int) -> list[str]:
    engine = make_engine(database.backend.database_url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT id FROM people LIMIT :n"), {"n": count})]
    finally:
        engine.dispose()


def _server_env(settings: Settings) -> dict[str, str]:
    assert settings.kek is not None and settings.redis_url is not None
    return {"IDP_ISSUER": settings.issuer, "IDP_DATABASE_URL": settings.database_url, "IDP_KEK": settings.kek,
            "IDP_REDIS_URL": settings.redis_url, "IDP_REDIS_PREFIX": settings.redis_prefix}


def _port(settings: Settings) -> int:
    return int(settings.issuer.rsplit(":", 1)[1])


def run(opts: Options, report: Report) -> None:
    with ExitStack() as stack:
        with phase(report, "files"):
            files = {}
            for n in sorted({opts.small, opts.rss_people, opts.people}):
                started = time.monotonic()
                files[n], made = people_file.ensure(n, OUT_DIR)
                log(f"   {n:,} people: {files[n].relative_to(ROOT)} "
                    + (f"generated in {time.monotonic() - started:.1f} s" if made else "(cached)"))

        with phase(report, "import"):
            if opts.rss_people < opts.people:
                with ExitStack() as scratch:
                    _import(report, f"{opts.rss_people}", files[opts.rss_people],
                            _open_database(scratch, opts.rss_people), opts)
            small = _open_database(stack, opts.small)
            _import(report, "small", files[opts.small], small, opts)
            large = _open_database(stack, opts.people)
            _import(report, f"{opts.people}", files[opts.people], large, opts)
            _import_figures(report, opts)

        with phase(report, "sessions"):
            if opts.sessions:
                ids = _person_ids(large, opts.sessions)
                cost = open_sessions(large.settings, large.backend.database_url, ids, opts.sessions, PORTAL_ID)
                report.sessions = asdict(cost)
                log(f"   {cost.sessions:,} sessions in {cost.seconds:.0f} s; {cost.keys_per_session:g} Redis key(s) "
                    f"per session; MEMORY USAGE per session p50 {cost.bytes_per_session_p50} B, "
                    f"max {cost.bytes_per_session_max} B (value {cost.value_bytes} B); "
                    f"used_memory growth {cost.used_memory_per_session:.0f} B per session")
                with tempfile.TemporaryDirectory(prefix="idp-scale-") as tmp:
                    issue_refresh_tokens(large.backend.database_url, large.fixture.person_id, opts.sessions,
                                         Path(tmp) / "tokens.txt")
                log(f"   {opts.sessions:,} refresh tokens issued (one per session)")

        with phase(report, "latency"):
            _latency(stack, report, small, large, opts)

        with phase(report, "indexes"):
            _indexes(report, large)


def _import_figures(report: Report, opts: Options) -> None:
    full, part = report.imports.get(f"{opts.people}"), report.imports.get(f"{opts.rss_people}")
    figures: dict[str, Any] = {"rows_per_second": full["rows_per_second"] if full else None,
                               "target_rows_per_second": TARGET_ROWS_PER_SECOND}
    if full and part:
        figures["peak_rss_mib"] = {str(opts.rss_people): part["peak_rss_mib"], str(opts.people): full["peak_rss_mib"]}
        figures["peak_rss_growth_percent"] = round(100 * (full["peak_rss_mib"] / part["peak_rss_mib"] - 1), 1)
    report.targets["import"] = figures


def _latency(stack: ExitStack, report: Report, small: Database, large: Database, opts: Options) -> None:
    passwords = Passwords(memory_kib=small.settings.argon2_memory_kib, time_cost=small.settings.argon2_time_cost)
    targets = []
    for label, database in (("small", small), ("large", large)):
        _analyze(database)
        pool = _pool(database, opts.pool)
        set_passwords(database.backend.database_url, [p[0] for p in pool], passwords)
        targets.append(Target(label, database.settings.issuer, database.fixture.portal_authorization, PORTAL_ID,
                              REDIRECT_URI, REFRESH_SCOPE, tuple(p[1] for p in pool)))
    log(f"   {opts.pool} people per database given a password (argon2id, "
        f"{small.settings.argon2_memory_kib} KiB, t={small.settings.argon2_time_cost})")
    large_engine = make_engine(large.backend.database_url)
    stack.callback(large_engine.dispose)
    before = table_counters(large_engine)
    drivers = [Driver(t) for t in targets]
    pids: list[int] = []
    with ExitStack() as servers:
        for label, database in (("small", small), ("large", large)):
            server = servers.enter_context(running_server(
                _port(database.settings), _server_env(database.settings), OUT_DIR / f"scale-server-{label}.log"))
            log(f"   {label} ({database.people:,} people): server pid {server.pid} on {server.base_url}")
            pids.append(server.pid)
        own_cpus = os.sched_getaffinity(0)
        report.latency["pinned"] = _pin(pids)
        try:
            measure(drivers, opts.counts, log)
        finally:
            os.sched_setaffinity(0, own_cpus)
            for d in drivers:
                d.close()
    time.sleep(1.0)  # the servers' database sessions report their counters as they end
    report.indexes["table_counters_during_latency"] = counter_delta(before, table_counters(large_engine))
    rows = {}
    for kind in ("signin", "refresh", "userinfo"):
        s, g = (getattr(d.timings, kind) for d in drivers)
        row = {"count": len(s)}
        for p in (50, 99):
            a, b = percentile(s, p) * 1000, percentile(g, p) * 1000
            row[f"p{p}_ms_{opts.small}"] = round(a, 2)
            row[f"p{p}_ms_{opts.people}"] = round(b, 2)
            row[f"p{p}_difference_percent"] = round(100 * (b / a - 1), 1)
        rows[kind] = row
    report.latency |= {"sizes": [opts.small, opts.people], "requests": rows,
                       "how": "one request at a time, alternating between the two servers (A B B A ...)"}
    report.targets["latency_difference_percent"] = TARGET_LATENCY_DIFFERENCE


def _pin(server_pids: list[int]) -> str | None:
    """Both servers on one CPU and this client on another: requests are one at a time, so the servers
    never compete, and neither gets a core the other lacks. Every thread of each server is moved
    (threads started later inherit it)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    client, servers = cpus[0], cpus[1]
    for pid in server_pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), {servers})
    os.sched_setaffinity(0, {client})
    log(f"   servers pinned to CPU {servers}, the client to CPU {client}")
    return f"servers on CPU {servers}, client on CPU {client}"


def _indexes(report: Report, large: Database) -> None:
    engine = make_engine(large.backend.database_url)
    try:
        person_id, code = _pool(large, 1)[0]
        explained = explain_all(engine, sample_values(engine, person_id, code, PORTAL_ID))
    finally:
        engine.dispose()
    report.indexes["explain"] = [asdict(e) for e in explained]
    missing = [e.lookup for e in explained if not e.index_found]
    report.indexes["lookups_without_index"] = missing
    for e in explained:
        log(f"   {e.lookup:<52} {e.chosen}" + ("" if e.chosen == e.with_index else f"  [index: {e.with_index}]"))
    counters = report.indexes.get("table_counters_during_latency", {})
    seq = {t: c["seq_tup_read"] for t, c in counters.items() if t in BIG_TABLES and c["seq_tup_read"]}
    log("   rows read by sequential scans of the large tables during the measured requests: "
        + (", ".join(f"{t} {n:,}" for t, n in seq.items()) if seq else "none"))


# -- output -------------------------------------------------------------------------------------


def summary(report: Report, opts: Options) -> str:
    lines = [f"bench-scale: {opts.people:,} people, {opts.sessions:,} sessions "
             f"({report.host['cpus']} CPUs, load {report.host['load_average_at_start']} at start)"]
    lines.append("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in report.phases.items())
                 + f", total {sum(report.phases.values()):.0f} s")
    for label, run_ in report.imports.items():
        lines.append(f"import {label:>9}: {run_['rows']:>9,} rows  {run_['rows_per_second']:>7,} rows/s  "
                     f"({run_['rows_per_cpu_second']:>7,} per CPU s)  peak RSS {run_['peak_rss_mib']:.0f} MiB")
    figures = report.targets.get("import", {})
    if "peak_rss_growth_percent" in figures:
        verdict = "ok" if figures["rows_per_second"] >= TARGET_ROWS_PER_SECOND else "MISS"
        lines.append(f"  target >= {TARGET_ROWS_PER_SECOND:,} rows/s: {verdict}"
                     f"; peak RSS {figures['peak_rss_growth_percent']:+.1f} % from {opts.rss_people:,} to "
                     f"{opts.people:,} rows")
    if report.sessions:
        s = report.sessions
        ok = "ok" if s["bytes_per_session_max"] <= TARGET_SESSION_BYTES else "MISS"
        lines.append(f"sessions: {s['sessions']:,}, {s['keys_per_session']:g} key each, MEMORY USAGE p50 "
                     f"{s['bytes_per_session_p50']} B max {s['bytes_per_session_max']} B "
                     f"(target <= {TARGET_SESSION_BYTES} B: {ok})")
    if report.latency.get("requests"):
        a, b = opts.small, opts.people
        lines.append(f"latency (ms)  {'p50 ' + f'{a:,}':>12} {'p50 ' + f'{b:,}':>14} {'diff':>7}  "
                     f"{'p99 ' + f'{a:,}':>12} {'p99 ' + f'{b:,}':>14} {'diff':>7}")
        for kind, r in report.latency["requests"].items():
            lines.append(f"  {kind:<11} {r[f'p50_ms_{a}']:>12.2f} {r[f'p50_ms_{b}']:>14.2f} "
                         f"{r['p50_difference_percent']:>+6.1f}%  {r[f'p99_ms_{a}']:>12.2f} "
                         f"{r[f'p99_ms_{b}']:>14.2f} {r['p99_difference_percent']:>+6.1f}%")
    if report.indexes.get("explain") is not None:
        missing = report.indexes["lookups_without_index"]
        lines.append("indexes: " + ("every lookup has one" if not missing else "MISSING for " + ", ".join(missing)))
    if report.error:
        lines.append(f"FAILED: {report.error}")
    return "\n".join(lines)


def write_json(report: Report) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "scale.json"
    path.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    return path


# -- main ---------------------------------------------------------------------------------------


def _install_signals(time_limit: float) -> None:
    """Ctrl-C, SIGTERM and the time limit each raise in the main thread, so every `finally` (servers,
    databases, Redis keys) runs; once one has, further ones are ignored until the cleanup is done."""
    def stopping() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0)

    def interrupted(_signum: int, _frame: object) -> None:
        stopping()
        raise KeyboardInterrupt

    def terminated(signum: int, _frame: object) -> None:
        stopping()
        raise SystemExit(128 + signum)

    def too_long(_signum: int, _frame: object) -> None:
        stopping()
        raise TimeLimitReached(f"time limit of {time_limit:.0f} s reached")

    # Explicitly: a shell starting us in the background would otherwise leave SIGINT ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, time_limit)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    report = Report(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        options={k: v for k, v in asdict(opts).items()},
        host={"cpus": len(os.sched_getaffinity(0)), "load_average_at_start": round(os.getloadavg()[0], 2),
              "python": platform.python_version(), "platform": platform.platform()},
    )
    _install_signals(opts.time_limit)
    status = 0
    try:
        run(opts, report)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        status = 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        report.host["load_average_at_end"] = round(os.getloadavg()[0], 2)
    if report.error is None and (report.indexes.get("lookups_without_index") or not report.latency.get("requests")):
        status = 1
    print(summary(report, opts))
    log(f"written to {write_json(report).relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
