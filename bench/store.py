"""Benchmark: our chained store against the plain eventsourcing library, side by side.

For each store (SQLite, Postgres) this builds two applications with the same
aggregate: the library's own recorder (the baseline) and our chained recorder,
and measures them in interleaved rounds so machine noise hits both alike:

  - single-event saves of new aggregates
  - 1,000-event saves
  - loading an aggregate with a long history by replay and from snapshots, at
    several history lengths (an aggregate whose state stays the same size, so
    the measure is of history length alone)
  - loading from a snapshot: the library's unsigned snapshots against ours,
    whose signature is checked on every load
  - `audit verify` speed over the whole store, without snapshots and with one
    every 100 events (each one's signature is checked)

Run: `make bench` (or `.venv/bin/python bench/store.py [--quick]`).
Postgres: STRONGROOM_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.domain import event  # noqa: E402

from adapters.clock import SystemClock  # noqa: E402
from adapters.ledger.checkpoints import create_signing_key  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from audit_queries.verify import verify_store  # noqa: E402
from domain.aggregate import AuditedAggregate  # noqa: E402
from domain.application import Strongroom  # noqa: E402
from domain.clock import install_clock  # noqa: E402
from domain.envelope import AuditContext, acting_as  # noqa: E402


class Note(AuditedAggregate):
    """A line-by-line log: what the ledger's write benchmarks record (as tests/notes.py)."""

    @event("Started")
    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    @event("Written")
    def write(self, line: str) -> None:
        self.lines.append(line)


class Tally(AuditedAggregate):
    """State of constant size, however long the history."""

    @event("Started")
    def __init__(self) -> None:
        self.total = 0

    @event("Added")
    def add(self, amount: int) -> None:
        self.total += amount


PG_URL = os.environ.get(
    "STRONGROOM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LIBRARY_MODULE = {"sqlite": "eventsourcing.sqlite", "postgres": "eventsourcing.postgres"}


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"strongroom_bench_{uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(PG_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def store(kind: str) -> Iterator[Settings]:
    """A fresh store of `kind` with its own home and audit key."""
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {"STRONGROOM_HOME": str(home)}
        if kind == "postgres":
            env["STRONGROOM_DATABASE_URL"] = stack.enter_context(postgres_database())
        settings = Settings.from_env(env)
        create_signing_key(settings.signing_key_path, settings.public_key_path)
        yield settings


def open_app(settings: Settings, *, ours: bool, snapshots: int | None, cache: bool) -> Strongroom:
    env = settings.app_env()
    if not ours:
        env["STRONGROOM_PERSISTENCE_MODULE"] = LIBRARY_MODULE[settings.store.kind]
    # An interval beyond any history switches snapshots off in practice.
    env["STRONGROOM_SNAPSHOT_INTERVAL"] = str(snapshots or 10**9)
    env["STRONGROOM_AGGREGATE_CACHE_MAXSIZE"] = "10000" if cache else ""
    return Strongroom(env=env)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(rounds: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[float, float]:
    """Median of each over alternating rounds (a, b, b, a, ...) so drift hits both."""
    xs, ys = [], []
    for i in range(rounds):
        if i % 2:
            ys.append(b())
            xs.append(a())
        else:
            xs.append(a())
            ys.append(b())
    return statistics.median(xs), statistics.median(ys)


def single_saves(app: Strongroom, n: int) -> float:
    def run() -> None:
        for i in range(n):
            app.save(Note(f"n{i}"))

    return n / timed(run)


def big_saves(app: Strongroom, n_saves: int, per_save: int) -> float:
    def run() -> None:
        for _ in range(n_saves):
            note = Note("big")
            for i in range(per_save - 1):
                note.write(f"line {i}")
            app.save(note)

    return n_saves * per_save / timed(run)


def build_history(app: Strongroom, length: int) -> Tally:
    tally = Tally()
    app.save(tally)
    remaining = length - 1
    while remaining:
        batch = min(remaining, 500)
        for _ in range(batch):
            tally.add(1)
        app.save(tally)
        remaining -= batch
    return tally


def load_seconds(app: Strongroom, note_id: UUID, repeats: int) -> float:
    return statistics.median(timed(lambda: app.repository.get(note_id)) for _ in range(repeats))


def verify_rate(settings: Settings) -> tuple[float, int]:
    started = time.perf_counter()
    report = verify_store(settings)
    seconds = time.perf_counter() - started
    assert report.problem is None, report.problem
    return report.events / seconds, report.events


def bench_store(kind: str, quick: bool) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    single_n = {"sqlite": 1000, "postgres": 500}[kind] // (4 if quick else 1)
    rounds = 3 if quick else 5
    with store(kind) as base_settings, store(kind) as our_settings:
        baseline = open_app(base_settings, ours=False, snapshots=None, cache=True)
        ours = open_app(our_settings, ours=True, snapshots=None, cache=True)

        lib, mine = interleaved(
            rounds, lambda: single_saves(baseline, single_n), lambda: single_saves(ours, single_n)
        )
        rows.append((kind, "single-event saves (ev/s)", f"{lib:,.0f}", f"{mine:,.0f}"))

        lib, mine = interleaved(
            rounds, lambda: big_saves(baseline, 3, 1000), lambda: big_saves(ours, 3, 1000)
        )
        rows.append((kind, "1,000-event saves (ev/s)", f"{lib:,.0f}", f"{mine:,.0f}"))
        baseline.close()
        ours.close()

        # Loading: histories of several lengths, fresh apps without a cache.
        lengths = [1_000, 10_000] if quick else [1_000, 10_000, 30_000]
        for length in lengths:
            with store(kind) as plain_settings, store(kind) as snap_settings:
                plain = open_app(plain_settings, ours=True, snapshots=None, cache=False)
                snapped = open_app(snap_settings, ours=True, snapshots=100, cache=False)
                plain_note = build_history(plain, length)
                snap_note = build_history(snapped, length)
                plain_s, snap_s = interleaved(
                    rounds,
                    lambda a=plain, n=plain_note: load_seconds(a, n.id, 3),  # type: ignore[misc]
                    lambda a=snapped, n=snap_note: load_seconds(a, n.id, 3),  # type: ignore[misc]
                )
                rows.append(
                    (
                        kind,
                        f"load aggregate, {length:,} events (ms): replay vs snapshot",
                        f"{plain_s * 1000:,.1f}",
                        f"{snap_s * 1000:,.2f}",
                    )
                )
                plain.close()
                snapped.close()

        # Loading from a snapshot: the library's own against ours, signed and checked.
        length = 10_000
        with store(kind) as lib_settings, store(kind) as snap_settings:
            library = open_app(lib_settings, ours=False, snapshots=100, cache=False)
            signed = open_app(snap_settings, ours=True, snapshots=100, cache=False)
            lib_note = build_history(library, length)
            signed_note = build_history(signed, length)
            lib_s, signed_s = interleaved(
                rounds,
                lambda: load_seconds(library, lib_note.id, 5),
                lambda: load_seconds(signed, signed_note.id, 5),
            )
            rows.append(
                (
                    kind,
                    f"load aggregate from its snapshot, {length:,} events (loads/s)",
                    f"{1 / lib_s:,.0f}",
                    f"{1 / signed_s:,.0f}",
                )
            )
            library.close()
            signed.close()

    # Verification over a store of a realistic size: startup costs amortised.
    for snapshots in (None, 100):
        with store(kind) as verify_settings:
            app = open_app(verify_settings, ours=True, snapshots=snapshots, cache=True)
            if snapshots:
                # Notes of 100 events each: one snapshot every 100 events.
                big_saves(app, 200 if quick else 1000, 100)
            else:
                big_saves(app, 20 if quick else 100, 1000)
            app.close()
            rate, events = max(verify_rate(verify_settings) for _ in range(rounds))
            measure = f"audit verify, {events:,} events"
            if snapshots:
                measure += f", a signed snapshot every {snapshots}"
            rows.append((kind, f"{measure} (ev/s, best of {rounds})", "—", f"{rate:,.0f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    install_clock(SystemClock())
    rows = []
    with acting_as(AuditContext.system("benchmark")):
        for kind in args.stores.split(","):
            rows += bench_store(kind, args.quick)
    print(
        f"machine: {platform.node()} ({os.cpu_count()} vCPU, {platform.processor() or '?'}), "
        f"Python {platform.python_version()}"
    )
    print(f"date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: python bench/store.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print("| store | measure | library baseline | ours | ours / baseline |")
    print("|---|---|---|---|---|")
    for kind, measure, lib, mine in rows:
        try:
            ratio = f"{float(mine.replace(',', '')) / float(lib.replace(',', '')):.2f}"
        except ValueError:
            ratio = "—"
        print(f"| {kind} | {measure} | {lib} | {mine} | {ratio} |")


if __name__ == "__main__":
    main()
