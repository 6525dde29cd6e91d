"""Benchmark: the forensic export and its questions, beside the store they come from.

Side by side in one run, interleaved round by round (a, b, b, a, …; medians):

  1. export: events/s exporting a Postgres store of real events to Parquet, next to
     the raw log read rate (the library's `recorder.select_notifications` in 1,000-row
     pages, and the ledger port's `read_chained` in the export's own pages); then
     where an export's time goes (its stages timed apart, and cProfile)
  2. questions: breach scope (one actor, one week / one month) and lineage (one
     aggregate) over a synthetic export of the same schema in day partitions, next
     to the same question answered by scanning a Postgres table shaped like the
     library's events table (state: the stored JSON as bytea)
  3. freshness: from a command's commit to its row being visible to an audit
     query, while commands are committed at 20/s: in process (`fresh_connection`)
     and over HTTP (`POST /api/v1/audit/query` on a live server)
  4. offline verify: `audit_queries.export_verify` over the real store's export,
     next to the store verifier (`audit_queries.verify.verify_store`), and over
     the synthetic export (its chain is real, its checkpoints signed)

The real store is made through the application's own commands and aggregates:
people, teams, logins signed with each person's keys, role and membership changes
and officers' reads as real commands, and a working day's sessions (challenges,
sessions, activity, refusals) as real aggregates saved in batches. It and the
synthetic data are cached between runs: Postgres databases named
`strongroom_bench_forensics_*`, their homes and the synthetic export under
$STRONGROOM_BENCH_CACHE (default ~/.cache/strongroom-bench/forensics); `--rebuild`
makes them again, `--drop-cache` removes them.

Run: `.venv/bin/python -m bench.forensics [--quick] [--parts export,questions,...]`
(part of `make bench`). Postgres: STRONGROOM_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import os
import platform
import pstats
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from hashlib import md5, sha256
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import System, open_system  # noqa: E402
from adapters.clock import ManualClock, SystemClock  # noqa: E402
from adapters.ledger.chain import EVENT_FORMAT, GENESIS_HASH, LINK_FORMAT  # noqa: E402
from adapters.ledger.checkpoints import (  # noqa: E402
    GENESIS_DIGEST,
    CheckpointSigner,
    create_signing_key,
)
from adapters.settings import Settings  # noqa: E402
from api.world import World  # noqa: E402
from audit_queries import (
    forensic_db,  # noqa: E402
    questions,  # noqa: E402
)
from audit_queries.columns import SCHEMA  # noqa: E402
from audit_queries.export import (  # noqa: E402
    CHECKPOINTS_DIR,
    MANIFEST,
    PAGE,
    ExportedFile,
    Manifest,
    checkpoint_file_name,
    checkpoint_json,
    export,
    write_events,
)
from audit_queries.export_verify import verify_export  # noqa: E402
from audit_queries.fresh import bring_up_to_date, fresh_connection  # noqa: E402
from audit_queries.verify import verify_store  # noqa: E402
from domain.access import Permission, Role  # noqa: E402
from domain.clock import install_clock  # noqa: E402
from domain.denials import DeniedAttempt  # noqa: E402
from domain.envelope import AuditContext, acting_as  # noqa: E402
from domain.errors import Unauthenticated  # noqa: E402
from domain.identity import Identity  # noqa: E402
from domain.reads import DirectoryRead  # noqa: E402
from domain.sessions import Challenge, Session  # noqa: E402

PG_URL = os.environ.get(
    "STRONGROOM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CACHE = Path(
    os.environ.get("STRONGROOM_BENCH_CACHE") or Path.home() / ".cache/strongroom-bench/forensics"
).expanduser()
DB_PREFIX = "strongroom_bench_forensics_"
# A signed checkpoint every so many positions, as the ledger seals by default.
CHECKPOINT_EVERY = 1000

# Where people connect from: a campus network, a VPN range, two partner sites and
# home broadband; each person mostly from one, sometimes from another.
NETWORKS = ("10.20.{}.{}", "10.40.{}.{}", "192.0.2.{}", "198.51.100.{}", "203.0.113.{}")


# -- small helpers -------------------------------------------------------------------


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(PG_URL)._replace(path=f"/{name}"))


def database_exists(name: str) -> bool:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def drop_database(name: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str, *, template: str | None = None) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{suffix}')


def settings_for(home: Path, database: str) -> Settings:
    return Settings.from_env(
        {"STRONGROOM_HOME": str(home), "STRONGROOM_DATABASE_URL": database_url(database)}
    )


def interleaved(rounds: int, *measures: Callable[[], float]) -> list[list[float]]:
    """Each measure once a round, the order reversed every other round, so drift hits all."""
    results: list[list[float]] = [[] for _ in measures]
    order = list(range(len(measures)))
    for i in range(rounds):
        for j in order if i % 2 == 0 else reversed(order):
            results[j].append(measures[j]())
    return results


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def faster(baseline_seconds: float, ours_seconds: float) -> str:
    """How much faster ours answered than the baseline (or slower), in words."""
    ratio = baseline_seconds / ours_seconds
    if ratio >= 1:
        return f"{ratio:,.{0 if ratio >= 10 else 1}f}× faster"
    return f"{1 / ratio:,.{0 if ratio <= 0.1 else 1}f}× slower"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def say(message: str) -> None:
    print(f"[{datetime.now(tz=UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@dataclass
class Results:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, measure: str, baseline: str, ours: str, ratio: str) -> None:
        self.rows.append((measure, baseline, ours, ratio))
        say(f"{measure}: baseline {baseline}, ours {ours} ({ratio})")


# -- 1. a store of real events ---------------------------------------------------------


@dataclass(frozen=True)
class RealStoreSize:
    events: int
    people: int
    days: int
    teams: int = 20

    @property
    def tag(self) -> str:
        return f"real_{self.events}"


class RealStoreBuilder:
    """Days of an enclave's life, through the application's commands and aggregates.

    Each day: in the morning, real commands (logins signed with the person's keys,
    refused logins, role and membership changes, officers' reads of the directory);
    then the day's sessions as real aggregates (challenge issued and used, session
    started, touched as people work, ended), refusals and officers' reads, in time
    order, saved in batches of about a thousand events.
    """

    BATCH = 1000

    def __init__(self, system: System, clock: ManualClock, size: RealStoreSize) -> None:
        self.system, self.clock, self.size = system, clock, size
        self.app = system.app
        self.rng = random.Random(20261127)
        self.world = World(self.app, tag="", domain="enclave.example.edu")
        self.pending: dict[UUID, Any] = {}
        self.pending_events = 0

    def build(self) -> int:
        size, world = self.size, self.world
        say(f"building a store of ≥{size.events:,} events ({size.people} people, {size.days} days)")
        teams = [f"team-{i:02d}" for i in range(size.teams)]
        self.people = [f"p{i:04d}" for i in range(size.people)]
        self.admins = ["admin-a", "admin-b"]
        self.officers = ["officer-a", "officer-b", "officer-c"]
        for label in self.admins:
            world.person(label, Role.ADMIN, teams=(teams[0],))
        for label in self.officers:
            world.person(label, teams=(teams[0],))
            with world.acting("root"):
                Identity(self.app).set_permissions(
                    world.ids[label], grant={Permission.AUDIT}, restrict=set()
                )
        for i, label in enumerate(self.people):
            world.person(label, teams=(teams[i % len(teams)],))
            if i % 100 == 99:
                say(f"  {i + 1} people")
        self.everyone = self.people + self.admins + self.officers
        self.network = {label: self.rng.randrange(len(NETWORKS)) for label in self.everyone}
        # A few people do most of the work.
        self.weights = [1 / (1 + i) ** 0.8 for i in range(len(self.people))]
        setup = self.head()
        per_day = max(1, (size.events - setup) // size.days)
        for day in range(size.days):
            self.clock._now = self.day_start(day) + timedelta(hours=7, minutes=30)
            self.morning(day)
            self.working_day(day, setup + per_day * (day + 1))
            say(f"  day {day + 1}/{size.days}: {self.head():,} events")
        self.system.ledger.seal()
        return self.head()

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def day_start(self, day: int) -> datetime:
        today = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=self.size.days - day)

    def ip(self, label: str) -> str:
        net = self.network[label]
        if self.rng.random() < 0.03:  # travelling, or a VPN from elsewhere
            net = self.rng.randrange(len(NETWORKS))
        return NETWORKS[net].format(self.rng.randrange(1, 255), self.rng.randrange(1, 255))

    def tick(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def morning(self, day: int) -> None:
        """Real commands, one by one, as requests would make them."""
        world, rng = self.world, self.rng
        identity = Identity(self.app)
        logins = max(4, len(self.people) // 20)
        for label in rng.sample(self.people, logins):
            world.login(label, client_ip=self.ip(label))
            self.tick(rng.uniform(1, 8))
        # A wrong key (a bad signature), and someone guessing accounts.
        victim, other = rng.sample(self.people, 2)
        for label, keys in ((victim, world.keys[other]), (f"nobody{day}", world.keys[other])):
            with suppress(Unauthenticated):  # refused, and recorded as such
                world.login(label, keys=keys, email=world.email(label), client_ip=self.ip(other))
            self.tick(rng.uniform(1, 8))
        with world.acting(rng.choice(self.admins)):
            someone = world.ids[rng.choice(self.people)]
            team = world.teams[f"team-{rng.randrange(self.size.teams):02d}"]
            if someone in identity.team(team).members:
                identity.remove_team_member(team, someone)
            else:
                identity.add_team_member(team, someone)
            self.tick(rng.uniform(5, 30))
            someone = world.ids[rng.choice(self.people)]
            role = Role.SUB_ADMIN if identity.user(someone).role is Role.USER else Role.USER
            identity.change_role(someone, role)
        with world.acting(rng.choice(self.officers)):
            identity.view_user(world.ids[rng.choice(self.people)])
        self.tick(60)

    def working_day(self, day: int, until: int) -> None:
        """The day's sessions, refusals and reads as real aggregates, in time order, batched."""
        rng = self.rng
        start = self.clock.now()
        end = self.day_start(day) + timedelta(hours=18)
        span = (end - start).total_seconds()
        expected = until - self.head()
        per_session = 18  # challenge, used, started, ~14 touches, ended
        actions: list[tuple[float, Callable[[], None]]] = []
        for _ in range(max(1, expected // per_session)):
            label = rng.choices(self.people, self.weights)[0]
            at = rng.uniform(0, span * 0.9)
            touches = rng.randint(3, 25)
            actions.extend(self.session(label, at, touches, span))
        for _ in range(max(1, expected // 40)):
            label = rng.choices(self.people, self.weights)[0]
            actions.append((rng.uniform(0, span), self.refusal(label)))
        for _ in range(max(1, expected // 60)):
            actions.append((rng.uniform(0, span), self.officer_read(rng.choice(self.officers))))
        actions.sort(key=lambda action: action[0])
        for at, act in actions:
            self.clock._now = start + timedelta(seconds=at)
            act()
            if self.pending_events >= self.BATCH:
                self.flush()
        self.flush()

    def add(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self.pending[aggregate.id] = aggregate
        self.pending_events += len(aggregates)

    def flush(self) -> None:
        if self.pending:
            self.app.save(*self.pending.values())
        self.pending.clear()
        self.pending_events = 0

    def context(self, label: str, session: UUID | None, ip: str) -> AuditContext:
        return AuditContext(
            actor_id=str(self.world.ids[label]),
            actor_role="user",
            session_id=None if session is None else str(session),
            request_id=secrets.token_hex(16),
            client_ip=ip,
        )

    def session(
        self, label: str, at: float, touches: int, span: float
    ) -> list[tuple[float, Callable[[], None]]]:
        """A login and a working session: what Logins.login and authenticate record."""
        email, ip = self.world.email(label), self.ip(label)
        user_id = self.world.ids[label]
        nonce, token_hash = secrets.token_hex(32), secrets.token_hex(32)
        state: dict[str, Any] = {}

        def issue() -> None:
            visitor = AuditContext("anonymous", "anonymous", None, secrets.token_hex(16), ip)
            with acting_as(visitor):
                expires = self.clock.now() + timedelta(minutes=1)
                state["challenge"] = Challenge(nonce, email, expires)
            self.add(state["challenge"])

        def login() -> None:
            now = self.clock.now()
            session_id = Session.create_id(token_hash)
            with acting_as(self.context(label, session_id, ip)):
                session = Session(
                    token_hash=token_hash,
                    user_id=user_id,
                    role="user",
                    started_at=now,
                    expires_at=now + timedelta(hours=12),
                    idle_seconds=1800,
                )
                state["challenge"].use(outcome="logged in")
            state["session"] = session
            self.add(session, state["challenge"])

        def touch() -> None:
            session = state["session"]
            with acting_as(self.context(label, session.id, ip)):
                session.touch(at=self.clock.now())
            self.add(session)

        def end() -> None:
            session = state["session"]
            with acting_as(self.context(label, session.id, ip)):
                session.end(reason="logout")
            self.add(session)

        steps: list[tuple[float, Callable[[], None]]] = [(at, issue), (at + 2, login)]
        t = at + 2
        for _ in range(touches):
            t = min(span, t + self.rng.uniform(60, 900))
            steps.append((t, touch))
        steps.append((min(span, t + 30), end))
        return steps

    def refusal(self, label: str) -> Callable[[], None]:
        def refuse() -> None:
            team = self.world.teams[f"team-{self.rng.randrange(self.size.teams):02d}"]
            action, reason = self.rng.choice(
                [
                    ("view_team", "not a member of the team"),
                    ("add_team_member", "only the team's sub-admins and admins may do this"),
                    ("change_role", "only admins may change roles"),
                    ("view_user", "only admins and the team's sub-admins may see other people"),
                ]
            )
            with acting_as(self.context(label, None, self.ip(label))):
                self.add(DeniedAttempt(action=action, target=f"team:{team}", reason=reason))

        return refuse

    def officer_read(self, label: str) -> Callable[[], None]:
        def read() -> None:
            target = str(self.world.ids[self.rng.choice(self.people)])
            with acting_as(self.context(label, None, self.ip(label))):
                self.add(DirectoryRead(what="user", target=target, count=1))

        return read


def real_store(size: RealStoreSize, *, rebuild: bool) -> Settings:
    """The cached store of real events (built on first use): its settings."""
    database, home = DB_PREFIX + size.tag, CACHE / size.tag / "home"
    meta_path = CACHE / size.tag / "meta.json"
    settings = settings_for(home, database)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    cached = (
        not rebuild
        and meta is not None
        and database_exists(database)
        and settings.public_key_path.exists()
        and _head(database) == meta["head"]
    )
    if not cached:
        started = time.perf_counter()
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        create_database(database)
        create_signing_key(settings.signing_key_path, settings.public_key_path)
        clock = ManualClock(datetime.now(tz=UTC) - timedelta(days=size.days + 1))
        system = open_system(settings, clock=clock)
        try:
            head = RealStoreBuilder(system, clock, size).build()
        finally:
            system.close()
        seconds = time.perf_counter() - started
        meta = {"head": head, "database": database, "built_in_seconds": round(seconds, 1)}
        meta_path.write_text(json.dumps(meta))
        say(f"built {head:,} events in {seconds:.0f} s (cached in database {database})")
    else:
        say(f"using the cached store: database {database}, {meta['head']:,} events")  # type: ignore[index]
    return settings


def _head(database: str) -> int:
    with psycopg.connect(database_url(database)) as connection:
        row = connection.execute("SELECT max(notification_id) FROM strongroom_events").fetchone()
    return int(row[0] or 0) if row else 0


# -- 1. export next to the raw log read -----------------------------------------------------


def read_notifications(system: System, page: int = 1000) -> int:
    """The library's own read of the whole log: `select_notifications` in `page`-row pages."""
    recorder, start, count = system.app.recorder, 1, 0
    while True:
        notifications = recorder.select_notifications(start, page)
        if not notifications:
            return count
        count += len(notifications)
        start = notifications[-1].id + 1


def read_chained(system: System, page: int = PAGE) -> int:
    """The ledger port's read, in the export's own pages: every event with its link."""
    ledger, head, after, count = system.ledger, system.ledger.head(), 0, 0
    while after < head:
        count += len(ledger.read_chained(after, min(after + page, head)))
        after += page
    return count


def read_chained_table(system: System, page: int = PAGE) -> int:
    """The same read as Arrow columns (`Ledger.read_chained_table`): what the export reads."""
    ledger, head, after, count = system.ledger, system.ledger.head(), 0, 0
    while after < head:
        count += ledger.read_chained_table(after, min(after + page, head)).num_rows
        after += page
    return count


def export_once(system: System, scratch: Path) -> int:
    directory = Path(tempfile.mkdtemp(dir=scratch, prefix="export-"))
    try:
        return export(system.ledger, directory).added
    finally:
        shutil.rmtree(directory)


def bench_export(settings: Settings, rounds: int, results: Results) -> Path | None:
    system = open_system(settings)
    scratch = Path(tempfile.mkdtemp(prefix="strongroom-forensics-"))
    kept: Path | None = None
    try:
        head = system.ledger.head()
        rates: dict[str, list[float]] = {}

        def measure(name: str, fn: Callable[[], int]) -> Callable[[], float]:
            def run() -> float:
                started = time.perf_counter()
                count = fn()
                seconds = time.perf_counter() - started
                assert count == head, (name, count, head)
                rates.setdefault(name, []).append(count / seconds)
                return seconds

            return run

        measures = [
            measure("notifications", lambda: read_notifications(system)),
            measure("chained", lambda: read_chained(system)),
            measure("table", lambda: read_chained_table(system)),
            measure("export", lambda: export_once(system, scratch)),
        ]
        for run in measures:  # once each, not counted: caches warm, DuckDB loaded
            run()
        rates.clear()
        interleaved(rounds, *measures)
        raw = statistics.median(rates["notifications"])
        results.add(
            f"read the log, {head:,} real events: `select_notifications`, 1,000-row pages (ev/s)",
            f"{raw:,.0f}",
            "",
            "",
        )
        for name, label in (
            ("chained", "`ledger.read_chained` (events with their links)"),
            ("table", "`ledger.read_chained_table` (the same as Arrow columns: the export's read)"),
        ):
            if name in rates:
                rate = statistics.median(rates[name])
                results.add(
                    f"read the log: {label}, {PAGE:,}-row pages (ev/s)",
                    f"{raw:,.0f}",
                    f"{rate:,.0f}",
                    f"{rate / raw:.2f}",
                )
        ours = statistics.median(rates["export"])
        spread = f"{min(rates['export']):,.0f}–{max(rates['export']):,.0f}"
        results.add(
            f"**export to Parquet**, {head:,} real events, whole store to a new directory "
            f"(ev/s; target ≥ 100k; rounds {spread})",
            f"{raw:,.0f}",
            f"**{ours:,.0f}**",
            f"{ours / raw:.2f}",
        )
        # One export kept for the offline verifier.
        kept = scratch / "kept"
        export(system.ledger, kept)
        profile_export(system, scratch, results)
        return kept
    finally:
        system.close()
        if kept is None:
            shutil.rmtree(scratch, ignore_errors=True)


def profile_export(system: System, scratch: Path, results: Results) -> None:
    """Where an export's time goes: its stages one after another, then cProfile."""
    stages = export_stages(system)
    if stages:
        total = sum(seconds for _, seconds in stages)
        head = system.ledger.head()
        results.notes.append(
            "export stages, run one after another on one thread (s; events/s each alone): "
            + "; ".join(f"{name} {sec:.2f} ({head / sec:,.0f}/s)" for name, sec in stages)
            + f"; sum {total:.2f} ({head / total:,.0f}/s)"
        )
    directory = scratch / "profiled"
    profiler = cProfile.Profile()
    profiler.enable()
    export(system.ledger, directory)
    profiler.disable()
    shutil.rmtree(directory)
    text = StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    path = CACHE / "export-profile.txt"
    path.write_text(text.getvalue())
    results.notes.append(
        f"export profile (cProfile of the calling thread, own time; listing in {path}):"
    )
    entries = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    for (filename, line, name), (_, calls, own, cumulative, _) in entries[:12]:
        where = f"{Path(filename).name}:{line}" if line else filename
        results.notes.append(
            f"  {own / total:5.1%} own, {cumulative / total:5.1%} cumulative  {name} ({where}), "
            f"{calls:,} calls"
        )


def export_stages(system: System) -> list[tuple[str, float]]:
    """The export's own stages timed apart, through its internals as they are now (empty
    when they have changed): read pages, turn them into export rows, write zstd Parquet."""
    from audit_queries import export as exporting

    transform = getattr(exporting, "_PageTransform", None)
    batch_rows = getattr(exporting, "TRANSFORM_ROWS", None)
    if transform is None or batch_rows is None:
        return []
    ledger, head = system.ledger, system.ledger.head()
    started = time.perf_counter()
    pages = [ledger.read_chained_table(low, min(low + PAGE, head)) for low in range(0, head, PAGE)]
    read = time.perf_counter() - started
    started = time.perf_counter()
    turn = transform(exporting.page_sql())
    per_batch = max(1, batch_rows // PAGE)
    batches = [pa.concat_tables(pages[i : i + per_batch]) for i in range(0, len(pages), per_batch)]
    tables = [turn(batch) for batch in batches]
    turned = time.perf_counter() - started
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        rows = pa.concat_tables(tables)
        for i, of_day in enumerate(exporting._by_day(rows)):
            table = of_day.drop_columns(["day"]).cast(SCHEMA)
            write_events(table, Path(scratch) / f"{i}.parquet")
    written = time.perf_counter() - started
    return [("read", read), ("to export rows", turned), ("write Parquet", written)]


# -- 2. the questions over a synthetic export of the same schema ---------------------------------


@dataclass(frozen=True)
class SyntheticSize:
    events: int
    people: int = 500
    days: int = 90
    teams: int = 20

    @property
    def tag(self) -> str:
        return f"synthetic_{self.events}"


SYNTHETIC_START = date(2026, 8, 29)  # 90 days up to the day these numbers were first taken

# Kinds of event, by the thousandth of a roll: most are sessions being used.
KINDS = """
CASE WHEN roll < 690 THEN 'session' WHEN roll < 790 THEN 'challenge'
     WHEN roll < 840 THEN 'self' WHEN roll < 870 THEN 'read' WHEN roll < 940 THEN 'denied'
     WHEN roll < 960 THEN 'admin' WHEN roll < 990 THEN 'team' ELSE 'alert' END
"""

ACTIONS = [
    ("view_team", "not a member of the team"),
    ("add_team_member", "only the team''s sub-admins and admins may do this"),
    ("change_role", "only admins may change roles"),
    ("download", "the project does not allow downloads"),
]


def _day_sql(size: SyntheticSize) -> str:
    """One day's events: positions [$first, $first + $count) on day $day."""
    actions = " ".join(f"WHEN {i} THEN '{a}'" for i, (a, _) in enumerate(ACTIONS))
    reasons = " ".join(f"WHEN {i} THEN '{r}'" for i, (_, r) in enumerate(ACTIONS))
    return f"""
WITH base AS (
    SELECT i AS position, hash(i, 11) % 1000 AS roll, hash(i, 22) AS h, hash(i, 33) AS g,
        TIMESTAMPTZ '{SYNTHETIC_START} 06:00:00+00' + INTERVAL (CAST($day AS INTEGER)) DAY
            + to_microseconds(CAST((i - $first) * 50400000000 // $count AS BIGINT)) AS ts,
        CAST((i - $first) * 7 // $count AS INTEGER) AS block
    FROM range($first, $first + $count) r(i)
), kinded AS (
    SELECT *, {KINDS} AS kind,
        CAST(floor(pow((h % 1000003) / 1000003.0, 2.2) * {size.people}) AS INTEGER) AS p,
        CAST(g % {size.people} AS INTEGER) AS q
    FROM base
), actors AS (
    SELECT k.*,
        CASE WHEN kind IN ('admin', 'team') THEN CAST(h % 2 AS INTEGER)
             WHEN kind = 'read' THEN 2 + CAST(h % 3 AS INTEGER) ELSE k.p END AS a
    FROM kinded k
), ids AS (
    SELECT x.*, pa.user_id AS actor_user, pa.email AS actor_email, pa.net,
        pq_.user_id AS q_user, pq_.name AS q_name,
        CAST(md5('s' || a || '-' || $day || '-' || block) AS UUID)::VARCHAR AS sid,
        CAST(md5('c' || a || '-' || $day || '-' || block) AS UUID)::VARCHAR AS cid,
        tm.team_id
    FROM actors x JOIN people pa ON pa.p = x.a JOIN people pq_ ON pq_.p = x.q
        JOIN teams tm ON tm.t = CAST(x.g % {size.teams} AS INTEGER)
), shaped AS (
    SELECT *,
        CASE kind WHEN 'session' THEN sid WHEN 'challenge' THEN cid WHEN 'self' THEN actor_user
            WHEN 'admin' THEN q_user WHEN 'team' THEN team_id
            ELSE CAST(md5(kind || position) AS UUID)::VARCHAR END AS aggregate_id
    FROM ids
), versioned AS (
    SELECT s.*,
        row_number() OVER w + coalesce(o.n, 0) AS version,
        count(*) OVER (PARTITION BY s.aggregate_id) + coalesce(o.n, 0) AS last_version
    FROM shaped s LEFT JOIN offsets o ON o.aggregate_id = s.aggregate_id
    WINDOW w AS (PARTITION BY s.aggregate_id ORDER BY position)
), typed AS (
    SELECT *,
        CASE kind
            WHEN 'session' THEN CASE WHEN version = 1 THEN 'Session.Started'
                WHEN version = last_version AND version > 2 THEN 'Session.Ended'
                ELSE 'Session.Touched' END
            WHEN 'challenge' THEN CASE WHEN version = 1 THEN 'Challenge.Issued'
                ELSE 'Challenge.Used' END
            WHEN 'self' THEN CASE WHEN h % 10 = 0 THEN 'User.LoginFailed'
                ELSE 'User.SessionStarted' END
            WHEN 'read' THEN 'DirectoryRead.Recorded'
            WHEN 'denied' THEN 'DeniedAttempt.Recorded'
            WHEN 'admin' THEN CASE WHEN h % 3 = 0 THEN 'User.RoleChanged'
                ELSE 'User.PermissionsChanged' END
            WHEN 'team' THEN CASE WHEN h % 3 = 0 THEN 'Team.MemberRemoved'
                ELSE 'Team.MemberAdded' END
            ELSE 'Alert.Raised' END AS event_type,
        strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS iso,
        strftime(ts + INTERVAL 12 HOUR, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS later_12h,
        strftime(ts + INTERVAL 1 MINUTE, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS later_1m,
        CASE WHEN hash(position, 44) % 100 < 3 THEN CAST(hash(position, 55) % 5 AS INTEGER)
            ELSE net END AS from_net,
        CAST(hash(position, 66) % {len(ACTIONS)} AS INTEGER) AS act
    FROM versioned
), enveloped AS (
    SELECT *,
        CASE WHEN event_type = 'Challenge.Issued' THEN 'anonymous'
            WHEN kind = 'alert' THEN 'system:alert-rules' ELSE actor_user END AS actor_id,
        CASE WHEN event_type = 'Challenge.Issued' THEN 'anonymous' WHEN kind = 'alert'
            THEN 'system' WHEN a = 0 THEN 'super-admin' WHEN a = 1 THEN 'admin'
            ELSE 'user' END AS actor_role,
        CASE WHEN kind IN ('session', 'read', 'denied', 'admin', 'team')
            OR event_type = 'Challenge.Used' THEN sid END AS session_id,
        CASE WHEN kind = 'alert' THEN NULL
            ELSE CASE from_net
                WHEN 0 THEN '10.20.' || (h % 250 + 1) || '.' || (g % 250 + 1)
                WHEN 1 THEN '10.40.' || (h % 250 + 1) || '.' || (g % 250 + 1)
                WHEN 2 THEN '192.0.2.' || (h % 250 + 1)
                WHEN 3 THEN '198.51.100.' || (h % 250 + 1)
                ELSE '203.0.113.' || (h % 250 + 1) END END AS client_ip,
        md5('r' || position) AS request_id,
        CASE split_part(event_type, '.', 1)
            WHEN 'Session' THEN 'domain.sessions:' WHEN 'Challenge' THEN 'domain.sessions:'
            WHEN 'User' THEN 'domain.users:' WHEN 'Team' THEN 'domain.teams:'
            WHEN 'DirectoryRead' THEN 'domain.reads:' WHEN 'DeniedAttempt' THEN 'domain.denials:'
            ELSE 'domain.alerts:' END || event_type AS topic
    FROM typed
)
SELECT position, position - 1 AS prev_position, ts AS recorded_at, event_type,
    split_part(event_type, '.', 1) AS aggregate_type, aggregate_id, version,
    actor_id, actor_role, session_id, request_id, client_ip, NULL::VARCHAR AS proxy_ip,
    CASE WHEN event_type IN ('DirectoryRead.Recorded', 'Team.MemberAdded', 'Team.MemberRemoved')
        THEN q_user WHEN kind IN ('self', 'admin') THEN aggregate_id
        WHEN kind = 'alert' OR event_type = 'Session.Started' THEN actor_user END AS user_id,
    CASE WHEN kind IN ('team', 'denied') THEN team_id END AS team_id,
    NULL::VARCHAR AS group_id, NULL::VARCHAR AS project_id, NULL::VARCHAR AS file_id,
    NULL::VARCHAR AS vm_id, NULL::BIGINT AS bytes,
    CASE kind WHEN 'denied' THEN 'team:' || team_id WHEN 'read' THEN q_user
        WHEN 'alert' THEN actor_user END AS target,
    CASE WHEN kind = 'denied' OR event_type = 'User.LoginFailed' THEN 'denied'
        ELSE 'allowed' END AS outcome,
    CASE WHEN kind = 'denied' THEN CASE act {reasons} END
        WHEN event_type = 'User.LoginFailed' THEN 'bad signature' END AS reason,
    topic,
    '{{"timestamp":{{"_type_":"datetime_iso","_data_":"' || iso || '"}}'
        || CASE WHEN version = 1 AND kind NOT IN ('self', 'admin', 'team')
            THEN ',"originator_topic":"' || split_part(topic, ':', 1) || ':'
                || split_part(event_type, '.', 1) || '"' ELSE '' END
        || ',"actor_id":"' || actor_id || '","actor_role":"' || actor_role
        || '","session_id":' || coalesce('"' || session_id || '"', 'null')
        || ',"request_id":"' || request_id || '","client_ip":'
        || coalesce('"' || client_ip || '"', 'null') || ',"proxy_ip":null'
        || CASE event_type
            WHEN 'Session.Started' THEN ',"token_hash":"' || md5('t' || sid) || md5('u' || sid)
                || '","user_id":{{"_type_":"uuid_hex","_data_":"' || replace(actor_user, '-', '')
                || '"}},"role":"user","started_at":{{"_type_":"datetime_iso","_data_":"' || iso
                || '"}},"expires_at":{{"_type_":"datetime_iso","_data_":"' || later_12h
                || '"}},"idle_seconds":1800'
            WHEN 'Session.Touched' THEN ',"at":{{"_type_":"datetime_iso","_data_":"' || iso || '"}}'
            WHEN 'Session.Ended' THEN ',"reason":"logout"'
            WHEN 'Challenge.Issued' THEN ',"nonce":"' || md5('n' || cid) || md5('m' || cid)
                || '","email":"' || actor_email
                || '","expires_at":{{"_type_":"datetime_iso","_data_":"' || later_1m || '"}}'
            WHEN 'Challenge.Used' THEN ',"outcome":"logged in"'
            WHEN 'User.SessionStarted' THEN ',"expires_at":{{"_type_":"datetime_iso","_data_":"'
                || later_12h || '"}},"at":{{"_type_":"datetime_iso","_data_":"' || iso || '"}}'
            WHEN 'User.LoginFailed' THEN ',"reason":"bad signature","at":{{"_type_":'
                || '"datetime_iso","_data_":"' || iso || '"}},"window_start":{{"_type_":'
                || '"datetime_iso","_data_":"' || iso || '"}}'
            WHEN 'DirectoryRead.Recorded' THEN ',"what":"user","target":"' || q_user
                || '","count":1'
            WHEN 'DeniedAttempt.Recorded' THEN ',"action":"' || CASE act {actions} END
                || '","target":"team:' || team_id || '","reason":"'
                || CASE act {reasons} END || '"'
            WHEN 'User.RoleChanged' THEN ',"before":"user","after":"sub-admin","by_super_admin":'
                || CASE WHEN a = 0 THEN 'true' ELSE 'false' END
            WHEN 'User.PermissionsChanged' THEN ',"profile":null,"profile_permissions":'
                || '["view","download"],"granted":[],"restricted":["download"],'
                || '"before":["view","download"],"after":["view"]'
            WHEN 'Alert.Raised' THEN ',"rule":"many-refusals","source_position":'
                || (position - 1) || ',"type":"Many refusals","severity":"warning",'
                || '"subject":"' || actor_user || '","message":"' || actor_email
                || ' was refused 5 times in 10 minutes","source_actor":"' || actor_user
                || '","subject_name":"' || q_name || '","actor_name":"' || q_name || '"'
            ELSE ',"user_id":{{"_type_":"uuid_hex","_data_":"' || replace(q_user, '-', '')
                || '"}}' END
        || '}}' AS payload,
    md5('h' || position) || md5('k' || position) AS chain_hash
FROM enveloped
ORDER BY position
"""


HEADER_SQL = """
SELECT p + 1 AS position, p AS prev_position,
    TIMESTAMPTZ '{start} 05:00:00+00' + to_microseconds(p * 1000) AS recorded_at,
    'User.Registered' AS event_type, 'User' AS aggregate_type, user_id AS aggregate_id,
    1::BIGINT AS version, 'anonymous' AS actor_id, 'anonymous' AS actor_role,
    NULL AS session_id, md5('reg' || p) AS request_id, NULL AS client_ip, NULL AS proxy_ip,
    user_id, NULL AS team_id, NULL AS group_id, NULL AS project_id, NULL AS file_id,
    NULL AS vm_id, NULL::BIGINT AS bytes, NULL AS target, 'allowed' AS outcome,
    NULL AS reason, 'domain.users:User.Registered' AS topic,
    '{{"timestamp":{{"_type_":"datetime_iso","_data_":"'
        || strftime(TIMESTAMPTZ '{start} 05:00:00+00' + to_microseconds(p * 1000),
            '%Y-%m-%dT%H:%M:%S.%f') || '+00:00"}},"originator_topic":"domain.users:User",'
        || '"actor_id":"anonymous","actor_role":"anonymous","session_id":null,"request_id":"'
        || md5('reg' || p) || '","client_ip":null,"proxy_ip":null,"email":"' || email
        || '","name":"' || name || '","signing_public_key":"' || left(md5('k' || p), 43)
        || '=","encryption_public_key":"' || left(md5('e' || p), 43) || '="}}' AS payload,
    md5('h' || (p + 1)) || md5('k' || (p + 1)) AS chain_hash
FROM people
UNION ALL
SELECT {people} + t + 1, {people} + t,
    TIMESTAMPTZ '{start} 05:30:00+00' + to_microseconds(t * 1000), 'Team.Created', 'Team',
    team_id, 1, (SELECT user_id FROM people WHERE p = 0), 'super-admin', NULL,
    md5('team' || t), NULL, NULL, NULL, team_id, NULL, NULL, NULL, NULL, NULL, NULL,
    'allowed', NULL, 'domain.teams:Team.Created',
    '{{"timestamp":{{"_type_":"datetime_iso","_data_":"'
        || strftime(TIMESTAMPTZ '{start} 05:30:00+00' + to_microseconds(t * 1000),
            '%Y-%m-%dT%H:%M:%S.%f') || '+00:00"}},"originator_topic":"domain.teams:Team",'
        || '"actor_id":"' || (SELECT user_id FROM people WHERE p = 0)
        || '","actor_role":"super-admin","session_id":null,"request_id":"' || md5('team' || t)
        || '","client_ip":null,"proxy_ip":null,"name":"' || name
        || '","quota":{{"storage_bytes":107374182400,"vm_count":2,"cpu_cores":8}}}}',
    md5('h' || ({people} + t + 1)) || md5('k' || ({people} + t + 1))
FROM teams
ORDER BY position
"""


def synthetic_export(size: SyntheticSize, *, rebuild: bool) -> Path:
    """A synthetic export of `size.events` events with the export's schema, made once and cached.

    Generated by DuckDB (vectorised: a day at a time from `range()`) and written by
    pyarrow as the export writes its files (zstd, the same schema), with a manifest,
    so `forensic_db.connect` opens it like any export. The chain is real (each row's
    digest and link computed with adapters/ledger/chain.py) and signed checkpoints
    every `CHECKPOINT_EVERY` positions sit beside it, with its own audit key, so the
    offline verifier can check it too.
    """
    directory = CACHE / size.tag / "export"
    if (directory / MANIFEST).exists() and not rebuild:
        manifest = Manifest.load(directory)
        if manifest.events == size.events:
            say(f"using the cached synthetic export: {directory} ({size.events:,} events)")
            _relayout(directory, manifest)
            return directory
    shutil.rmtree(CACHE / size.tag, ignore_errors=True)
    (directory / CHECKPOINTS_DIR).mkdir(parents=True)
    private, public = synthetic_key(size)
    create_signing_key(private, public)
    signer = CheckpointSigner.from_file(private)
    say(f"generating a synthetic export of {size.events:,} events in {size.days} day partitions")
    started = time.perf_counter()
    db = duckdb.connect(":memory:", config={"threads": os.cpu_count() or 2})
    db.execute("SET TimeZone = 'UTC'")
    db.execute("SET enable_progress_bar = false")
    db.execute(
        f"""CREATE TABLE people AS SELECT i AS p,
            CAST(md5('person' || i) AS UUID)::VARCHAR AS user_id,
            'person' || lpad(i::VARCHAR, 4, '0') || '@enclave.example.edu' AS email,
            'Person ' || i AS name, CAST(hash(i, 77) % 5 AS INTEGER) AS net
        FROM range({size.people}) r(i)"""
    )
    db.execute(
        f"""CREATE TABLE teams AS SELECT i AS t, CAST(md5('team' || i) AS UUID)::VARCHAR AS team_id,
            'team-' || lpad(i::VARCHAR, 2, '0') AS name FROM range({size.teams}) r(i)"""
    )
    header = db.execute(
        HEADER_SQL.format(start=SYNTHETIC_START, people=size.people)
    ).to_arrow_table()
    assert header is not None
    # Long-lived aggregates (people, teams) carry their version from day to day.
    db.execute(
        "CREATE TABLE offsets AS SELECT user_id AS aggregate_id, 1::BIGINT AS n FROM people "
        "UNION ALL SELECT team_id, 1 FROM teams"
    )
    day_sql = _day_sql(size)
    first = header.num_rows + 1
    per_day = (size.events - header.num_rows) // size.days
    files: list[ExportedFile] = []
    chain = _Chain(signer, directory / CHECKPOINTS_DIR)
    for day in range(size.days):
        count = per_day if day < size.days - 1 else size.events - first + 1
        table = db.execute(day_sql, {"first": first, "count": count, "day": day}).to_arrow_table()
        assert table is not None
        if day == 0:
            table = pa.concat_tables([header.cast(SCHEMA), table.cast(SCHEMA)])
        db.register("today", table)
        db.execute(
            "CREATE OR REPLACE TABLE offsets AS SELECT aggregate_id, max(n) AS n FROM ("
            "SELECT aggregate_id, n FROM offsets UNION ALL SELECT aggregate_id, max(version) "
            "FROM today WHERE aggregate_type IN ('User', 'Team') GROUP BY aggregate_id) "
            "GROUP BY aggregate_id"
        )
        db.unregister("today")
        table = chain.link(table.cast(SCHEMA))
        lo, hi = table["position"][0].as_py(), table["position"][-1].as_py()
        relative = f"day={SYNTHETIC_START + timedelta(days=day)}/events-{lo:020d}-{hi:020d}.parquet"
        (directory / relative).parent.mkdir()
        write_events(table, directory / relative)
        files.append(ExportedFile(relative, lo, hi, table.num_rows))
        first += count
        if day % 10 == 9:
            say(f"  {day + 1} days, {first - 1:,} events, {time.perf_counter() - started:.0f} s")
    db.close()
    (CACHE / size.tag / "layout.txt").write_text(_layout())
    Manifest(
        position=size.events,
        chain_hash=chain.hash.hex(),
        events=size.events,
        checkpoint_seq=chain.seq,
        files=files,
    ).save(directory)
    say(f"generated in {time.perf_counter() - started:.0f} s: {directory}")
    return directory


def _layout() -> str:
    """How the export writes a file now (`write_events`): its options, as a fingerprint."""
    from audit_queries import export as exporting

    source = inspect.getsource(write_events) + repr(sorted(exporting._UNIQUE_COLUMNS))
    return sha256(f"{source}{exporting.DATA_PAGE_BYTES}".encode()).hexdigest()


def _relayout(directory: Path, manifest: Manifest) -> None:
    """Files of a cached synthetic export written again as the export writes them now (page
    size, page index, encodings): the same rows, so the chain and its checkpoints hold."""
    marker = directory.parent / "layout.txt"
    layout = _layout()
    if marker.exists() and marker.read_text() == layout:
        return
    say("writing the cached synthetic export's files again, as the export now writes them")
    started = time.perf_counter()
    for exported in manifest.files:
        path = directory / exported.path
        table = pq.read_table(path, schema=SCHEMA)
        temporary = path.with_name(f".tmp-{path.name}")
        write_events(table, temporary)
        os.replace(temporary, path)
    marker.write_text(layout)
    say(f"rewritten in {time.perf_counter() - started:.0f} s")


def synthetic_key(size: SyntheticSize) -> tuple[Path, Path]:
    """The synthetic export's own audit key pair (private, public)."""
    folder = CACHE / size.tag / "audit"
    return folder / "signing-key.pem", folder / "signing-key.pub.pem"


class _Chain:
    """The hash chain over the rows as they are made, and a signed checkpoint every so often."""

    def __init__(self, signer: CheckpointSigner, folder: Path) -> None:
        self.signer, self.folder = signer, folder
        self.hash, self.seq, self.previous = GENESIS_HASH, 0, GENESIS_DIGEST
        self.encode = EVENT_FORMAT.encoder_for_ids_of(16)
        self.link_hash = LINK_FORMAT.hasher()

    def link(self, table: pa.Table) -> pa.Table:
        encode, link_hash, prev_hash = self.encode, self.link_hash, self.hash
        hashes, seals = [], []
        for position, prev, aggregate, version, topic, payload in zip(
            *(
                table[name].to_pylist()
                for name in ("position", "prev_position", "aggregate_id", "version", "topic")
            ),
            table["payload"].to_pylist(),
            strict=True,
        ):
            originator = bytes.fromhex(aggregate.replace("-", ""))
            digest = sha256(encode(originator, version, topic, payload.encode())).digest()
            prev_hash = link_hash(prev_hash, position, prev, digest)
            hashes.append(prev_hash.hex())
            if position % CHECKPOINT_EVERY == 0:
                seals.append((position, prev_hash))
        self.hash = prev_hash
        sealed_at = table["recorded_at"][-1].as_py() + timedelta(seconds=1)
        for position, chain_hash in seals:
            self.seq += 1
            checkpoint = self.signer.sign(
                seq=self.seq,
                position=position,
                chain_hash=chain_hash,
                previous_digest=self.previous,
                sealed_at=sealed_at,
            )
            self.previous = checkpoint.digest()
            (self.folder / checkpoint_file_name(checkpoint.seq)).write_bytes(
                checkpoint_json(checkpoint)
            )
        column = table.schema.get_field_index("chain_hash")
        return table.set_column(column, SCHEMA.field("chain_hash"), pa.array(hashes, pa.string()))


def synthetic_postgres(size: SyntheticSize, directory: Path, *, rebuild: bool) -> str:
    """The same events in a table shaped like the library's events table; cached by name."""
    database = DB_PREFIX + size.tag
    if not rebuild and database_exists(database):
        with psycopg.connect(database_url(database)) as connection:
            row = (
                connection.execute(
                    "SELECT events FROM bench_meta WHERE source = %s", (str(directory),)
                ).fetchone()
                if _has_meta(connection)
                else None
            )
        if row and row[0] == size.events:
            say(f"using the cached Postgres copy: database {database}")
            return database
    say(f"loading {size.events:,} events into Postgres database {database} (COPY, then indexes)")
    started = time.perf_counter()
    create_database(database)
    manifest = Manifest.load(directory)
    db = duckdb.connect(":memory:")
    db.execute("SET enable_progress_bar = false")
    scratch = Path(tempfile.mkdtemp(prefix="strongroom-forensics-copy-"))
    try:
        with psycopg.connect(database_url(database), autocommit=True) as connection:
            # The library's own table (eventsourcing.postgres), indexes added after the load.
            connection.execute(
                "CREATE TABLE strongroom_events (originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, topic text, state bytea, "
                "notification_id bigserial)"
            )
            for i, exported in enumerate(manifest.files):
                csv = scratch / "day.csv"
                # bytea's escape input: the text as it is, each backslash doubled.
                db.execute(
                    "COPY (SELECT aggregate_id, version, topic, replace(payload, '\\', '\\\\'), "
                    f"position FROM read_parquet('{directory / exported.path}')) "
                    f"TO '{csv}' (FORMAT csv, HEADER false)"
                )
                with (
                    connection.cursor() as cursor,
                    cursor.copy(
                        "COPY strongroom_events (originator_id, originator_version, topic, state, "
                        "notification_id) FROM STDIN (FORMAT csv)"
                    ) as copy,
                    open(csv, "rb") as source,
                ):
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
                if i % 10 == 9:
                    say(f"  {i + 1} days copied, {time.perf_counter() - started:.0f} s")
            connection.execute("SET maintenance_work_mem = '1GB'")
            connection.execute(
                "ALTER TABLE strongroom_events ADD PRIMARY KEY (originator_id, originator_version)"
            )
            connection.execute(
                "CREATE UNIQUE INDEX strongroom_events_notification_id_idx "
                "ON strongroom_events (notification_id ASC)"
            )
            connection.execute(
                "SELECT setval('strongroom_events_notification_id_seq', %s)", (size.events,)
            )
            connection.execute("VACUUM ANALYZE strongroom_events")
            connection.execute("CREATE TABLE bench_meta (source text, events bigint)")
            connection.execute(
                "INSERT INTO bench_meta VALUES (%s, %s)", (str(directory), size.events)
            )
    finally:
        db.close()
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"loaded in {time.perf_counter() - started:.0f} s")
    return database


def _has_meta(connection: psycopg.Connection[Any]) -> bool:
    row = connection.execute("SELECT to_regclass('bench_meta') IS NOT NULL").fetchone()
    return bool(row and row[0])


# -- 2. the questions, timed ---------------------------------------------------------------


def person_id(p: int) -> str:
    """The synthetic person `p`'s user id (as the generator makes it)."""
    return str(UUID(hex=md5(f"person{p}".encode()).hexdigest()))


# The same questions over the store as it holds events: the JSON state as bytea.
# A byte search first (about 5x cheaper than parsing every row's JSON, measured at
# 200k rows), then the exact test on the rows it leaves: the best plain SQL can do
# over this table without new indexes.
PG_SCOPE = """SELECT notification_id, topic, convert_from(state, 'UTF8')::jsonb AS event
FROM strongroom_events
WHERE position(%(needle)s IN state) > 0
    AND convert_from(state, 'UTF8')::jsonb->>'actor_id' = %(actor)s
    AND (convert_from(state, 'UTF8')::jsonb->'timestamp'->>'_data_')::timestamptz >= %(start)s
    AND (convert_from(state, 'UTF8')::jsonb->'timestamp'->>'_data_')::timestamptz < %(end)s
ORDER BY notification_id"""
PG_LINEAGE = """SELECT notification_id, originator_id, topic, convert_from(state, 'UTF8')::jsonb
FROM strongroom_events
WHERE originator_id = %(id)s OR (
    (position(%(id_bytes)s IN state) > 0 OR position(%(hex_bytes)s IN state) > 0
        OR position(%(email_bytes)s IN state) > 0)
    AND (convert_from(state, 'UTF8')::jsonb->'user_id'->>'_data_' = %(hex)s
        OR convert_from(state, 'UTF8')::jsonb->>'user_id' = %(id_text)s
        OR convert_from(state, 'UTF8')::jsonb->'team_id'->>'_data_' = %(hex)s
        OR convert_from(state, 'UTF8')::jsonb->>'target' = %(id_text)s
        OR convert_from(state, 'UTF8')::jsonb->>'target' LIKE '%%:' || %(id_text)s
        OR convert_from(state, 'UTF8')::jsonb->>'subject' = %(id_text)s
        OR convert_from(state, 'UTF8')::jsonb->>'target' = %(email)s))
ORDER BY notification_id LIMIT 1001"""
PG_LINEAGE_OWN = """SELECT notification_id, topic, state FROM strongroom_events
WHERE originator_id = %(id)s ORDER BY originator_version"""

Connect = Callable[[Path], AbstractContextManager[duckdb.DuckDBPyConnection]]


@contextmanager
def own_connection(directory: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The comparison: a new `forensic_db.connect` per question, closed after it (what
    `fresh_connection` lent before it kept one database per export)."""
    connection = forensic_db.connect(directory)
    try:
        yield connection
    finally:
        connection.close()


@dataclass
class Asked:
    rows: int = 0
    connect: list[float] = field(default_factory=list)


@contextmanager
def _connected(connect: Connect, directory: Path, asked: Asked) -> Iterator[Any]:
    began = time.perf_counter()
    with connect(directory) as connection:
        asked.connect.append(time.perf_counter() - began)
        yield connection


def ask_scope(
    directory: Path, actor: str, start: datetime, end: datetime, connect: Connect, asked: Asked
) -> None:
    with _connected(connect, directory, asked) as connection:
        person = questions.find_person(connection, "actor", actor)
        window = questions.Window(start, end)
        asked.rows = questions.breach_scope(connection, actor=person, window=window).events


def ask_lineage(directory: Path, aggregate_id: str, connect: Connect, asked: Asked) -> None:
    with _connected(connect, directory, asked) as connection:
        asked.rows = len(questions.lineage(connection, aggregate_id).rows)


def pg_rows(database: str, sql: str, values: dict[str, object], asked: Asked) -> None:
    with psycopg.connect(database_url(database)) as connection:
        asked.rows = len(connection.execute(sql, values).fetchall())


def bench_questions(
    size: SyntheticSize, rounds: int, pg_rounds: int, results: Results, rebuild: bool
) -> Path:
    directory = synthetic_export(size, rebuild=rebuild)
    database = synthetic_postgres(size, directory, rebuild=rebuild)
    files = Manifest.load(directory).files
    megabytes = sum((directory / f.path).stat().st_size for f in files) / 1e6
    results.notes.append(
        f"synthetic export: {size.events:,} events, {len(files)} day files, {megabytes:,.0f} MB "
        f"zstd Parquet; Postgres table in {database}: {_table_size(database)} (heap + indexes)"
    )
    actor = person_id(20)  # a busy person: ~0.5% of all events
    subject, email = person_id(60), "person0060@enclave.example.edu"
    start = datetime.combine(SYNTHETIC_START, datetime.min.time(), UTC)
    windows = {
        "one week": (start + timedelta(days=35), start + timedelta(days=42)),
        "one month": (start + timedelta(days=30), start + timedelta(days=60)),
    }
    needle = f'"actor_id":"{actor}"'.encode()
    for label, (begin, end) in windows.items():
        ours, each, pg = Asked(), Asked(), Asked()
        values = {"actor": actor, "start": begin, "end": end, "needle": needle}
        question = _pairs(
            partial(ask_scope, directory, actor, begin, end),
            partial(pg_rows, database, PG_SCOPE, values, pg),
            ours,
            each,
        )
        mine, per_question, theirs = _timed_rounds(question, rounds, pg_rounds)
        assert ours.rows == pg.rows == each.rows, (ours.rows, each.rows, pg.rows)
        _question_rows(
            results,
            f"**breach scope**, one actor, {label} ({ours.rows:,} events in scope)",
            size,
            mine,
            per_question,
            theirs,
            ours,
        )
    ours, each, pg, own = Asked(), Asked(), Asked(), Asked()
    uid = UUID(subject)
    values = {
        "id": uid,
        "hex": uid.hex,
        "id_text": subject,
        "email": email,
        "id_bytes": subject.encode(),
        "hex_bytes": uid.hex.encode(),
        "email_bytes": email.encode(),
    }
    question = _pairs(
        partial(ask_lineage, directory, subject),
        partial(pg_rows, database, PG_LINEAGE, values, pg),
        ours,
        each,
    )
    mine, per_question, theirs = _timed_rounds(question, rounds, pg_rounds)
    assert ours.rows == each.rows == min(pg.rows, 1000), (ours.rows, each.rows, pg.rows)
    _question_rows(
        results,
        f"**lineage**, one person's aggregate: its events and every event naming it "
        f"(the first page, {ours.rows:,} rows)",
        size,
        mine,
        per_question,
        theirs,
        ours,
    )
    by_primary_key = interleaved(
        rounds, lambda: timed(lambda: pg_rows(database, PG_LINEAGE_OWN, values, own))
    )
    by_key = statistics.median(by_primary_key[0])
    results.add(
        f"lineage, the aggregate's own events only ({own.rows:,}): Postgres by its primary key (s)",
        f"{by_key:.4f}",
        f"{mine:.3f}",
        faster(by_key, mine),
    )
    return directory


def _pairs(
    ask: Callable[[Connect, Asked], None],
    baseline: Callable[[], None],
    ours: Asked,
    each: Asked,
) -> tuple[Callable[[], float], Callable[[], float], Callable[[], float]]:
    return (
        lambda: timed(lambda: ask(forensic_db.shared, ours)),
        lambda: timed(lambda: ask(own_connection, each)),
        lambda: timed(baseline),
    )


def _timed_rounds(
    measures: tuple[Callable[[], float], Callable[[], float], Callable[[], float]],
    rounds: int,
    pg_rounds: int,
) -> tuple[float, float, float]:
    """Ours and a connection per question every round; the (slow) Postgres scan in the first
    `pg_rounds`."""
    ours, each, pg = measures
    ours(), each()  # warm the page cache and DuckDB once, not counted
    mine: list[float] = []
    per_question: list[float] = []
    theirs: list[float] = []
    for i in range(max(rounds, pg_rounds)):
        round_ = [(mine, ours), (per_question, each)]
        if i < pg_rounds:
            round_.append((theirs, pg))
        for into, measure in round_ if i % 2 == 0 else reversed(round_):
            into.append(measure())
    return statistics.median(mine), statistics.median(per_question), statistics.median(theirs)


def _question_rows(
    results: Results,
    label: str,
    size: SyntheticSize,
    mine: float,
    per_question: float,
    theirs: float,
    ours: Asked,
) -> None:
    connect = statistics.median(ours.connect)
    results.add(
        f"{label}, {size.events:,} events (s; target ≤ 0.5)",
        f"{theirs:.2f}",
        f"**{mine:.3f}** (of which `forensic_db.shared` {connect:.3f})",
        faster(theirs, mine),
    )
    results.add(
        "… the same on a new `forensic_db.connect` per question (s)",
        f"{theirs:.2f}",
        f"{per_question:.3f}",
        faster(theirs, per_question),
    )


def _table_size(database: str) -> str:
    with psycopg.connect(database_url(database)) as connection:
        row = connection.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('strongroom_events'))"
        ).fetchone()
    return str(row[0]) if row else "?"


# -- 3. freshness under a steady command load -------------------------------------------------

LATEST = "SELECT max(position) AS latest FROM events"


@contextmanager
def store_copy(size: RealStoreSize) -> Iterator[Settings]:
    """A throwaway copy of the real store (a template copy of its database, a fresh home)."""
    # Its own name each time: a server that is slow to stop never meets the next copy.
    database = f"{DB_PREFIX}copy_{secrets.token_hex(4)}"
    home = Path(tempfile.mkdtemp(prefix="strongroom-forensics-fresh-"))
    try:
        create_database(database, template=DB_PREFIX + size.tag)
        shutil.copytree(CACHE / size.tag / "home" / "audit", home / "audit")
        yield settings_for(home, database)
    finally:
        drop_database(database)
        shutil.rmtree(home, ignore_errors=True)


def bench_freshness(size: RealStoreSize, seconds: float, rate: float, results: Results) -> None:
    """Commit → visible to an audit query, while commands are committed at `rate` a second.

    On a copy of the real store, a writer commits role changes at `rate`/s while an
    officer asks `SELECT max(position) FROM events` back to back, as someone polling
    would: in process through `fresh_connection` (the export brought up to date, then
    DuckDB opened over it), and over HTTP (`POST /api/v1/audit/query` to a live server,
    each run recorded). A commit's lag runs from its commit to the end of the first
    answer that includes it, so it holds up to one whole question's time besides.
    """
    with store_copy(size) as settings:
        system = open_system(settings)
        try:
            first = timed(lambda: bring_up_to_date(system))
            results.notes.append(
                f"freshness: the first question on a server that has never exported exports "
                f"the whole store first ({system.ledger.head():,} events): {first:.1f} s"
            )

            def ask() -> int:
                with fresh_connection(system) as connection:
                    return int(forensic_db.run(connection, LATEST).rows[0][0])

            lags, polls = _lags(system, seconds, rate, ask)
        finally:
            system.close()
    _freshness_rows(results, "in process, `fresh_connection`", lags, polls, rate)
    with store_copy(size) as settings:
        lags, polls = _lags_over_http(settings, seconds, rate)
    _freshness_rows(results, "over HTTP, `POST /api/v1/audit/query`", lags, polls, rate)


def _lags_over_http(
    settings: Settings, seconds: float, rate: float
) -> tuple[list[float], list[float]]:
    from api.local_server import live_server
    from client.api import StrongroomClient

    system = open_system(settings)
    try:
        world = _world(system)
        world.person("bench-officer")
        with world.acting("root"):
            Identity(system.app).set_permissions(
                world.ids["bench-officer"], grant={Permission.AUDIT}, restrict=set()
            )
        # A running server's read models are up to date: catch them up before it starts,
        # so that catching up 200k events is not what is measured.
        while system.projections.catch_up_all():
            pass
        system.projections.engine.dispose()
        with live_server(settings) as url:
            officer = StrongroomClient(url)
            officer.login(world.keys["bench-officer"], world.email("bench-officer"))
            officer.query(LATEST)  # the server's first export, not counted
            return _lags(system, seconds, rate, lambda: int(officer.query(LATEST)["rows"][0][0]))
    finally:
        system.close()


def _freshness_rows(
    results: Results, how: str, lags: list[float], polls: list[float], rate: float
) -> None:
    results.add(
        f"**freshness** {how}: commit → visible to an audit query, {len(lags)} commands at "
        f"{rate:g}/s (ms p50 / p95 / max; target ≤ 1,000)",
        "",
        f"**{statistics.median(lags):.0f} / {percentile(lags, 95):.0f} / {max(lags):.0f}**",
        "",
    )
    results.notes.append(
        f"freshness {how}: {len(polls)} questions back to back, each bringing the export up to "
        f"date first: {statistics.median(polls):.0f} ms p50, {percentile(polls, 95):.0f} ms p95"
    )


def _world(system: System) -> World:
    return World(
        system.app, tag="", domain="enclave.example.edu", root_email="root@enclave.example.edu"
    )


def _lags(
    system: System, seconds: float, rate: float, ask: Callable[[], int]
) -> tuple[list[float], list[float]]:
    """Commit at `rate`/s in a thread while `ask()` (the newest visible position) runs back to
    back; each commit's lag in ms, and each question's time in ms."""
    app = system.app
    world, identity = _world(system), Identity(app)
    targets = [identity.user_by_email(f"p{i:04d}@enclave.example.edu").id for i in range(4)]
    committed: list[tuple[int, float]] = []
    done = threading.Event()

    def write() -> None:
        try:
            began = time.perf_counter()
            for i in range(int(seconds * rate)):
                with world.acting("root"):
                    user = identity.user(targets[i % 4])
                    role = Role.SUB_ADMIN if user.role is Role.USER else Role.USER
                    identity.change_role(targets[i % 4], role)
                committed.append((app.recorder.max_notification_id() or 0, time.perf_counter()))
                pause = began + (i + 1) / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
        finally:
            done.set()

    answers: list[tuple[float, int]] = []
    polls: list[float] = []
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    while True:
        finished = done.is_set()
        started = time.perf_counter()
        latest = ask()
        now = time.perf_counter()
        answers.append((now, latest))
        polls.append((now - started) * 1000)
        if finished:
            break
    writer.join()
    lags = []
    for position, at in committed:
        seen = next(t for t, upto in answers if upto >= position and t >= at)
        lags.append((seen - at) * 1000)
    return lags, polls


# -- 4. offline verify next to the store verifier -----------------------------------------------


def bench_verify(
    settings: Settings,
    exported: Path,
    synthetic: tuple[Path, SyntheticSize] | None,
    rounds: int,
    results: Results,
) -> None:
    """`verify_export` on the real store's export, interleaved with `verify_store` on the store
    itself; then `verify_export` alone on the synthetic export (a real chain, signed)."""
    events = 0

    def store_verify() -> float:
        nonlocal events
        started = time.perf_counter()
        report = verify_store(settings)
        seconds = time.perf_counter() - started
        assert report.problem is None, report.problem
        events = report.events
        return report.events / seconds

    offline = _offline_verifier(exported, settings.public_key_path)
    offline(), store_verify()  # warm both once
    mine, theirs = interleaved(rounds, offline, store_verify)
    results.add(
        f"**offline verify** of the real store's export, {events:,} events (ev/s; target ≥ 200k; "
        f"rounds {min(mine):,.0f}–{max(mine):,.0f}), next to `verify_store` on the store",
        f"{statistics.median(theirs):,.0f}",
        f"**{statistics.median(mine):,.0f}**",
        f"{statistics.median(mine) / statistics.median(theirs):.2f}",
    )
    if synthetic is not None:
        directory, size = synthetic
        big = _offline_verifier(directory, synthetic_key(size)[1])
        rates = [big() for _ in range(max(1, rounds // 2))]
        checkpoints = size.events // CHECKPOINT_EVERY
        results.add(
            f"**offline verify** of the synthetic export, {size.events:,} events, "
            f"{checkpoints:,} signed checkpoints (ev/s; target ≥ 200k)",
            "—",
            f"**{statistics.median(rates):,.0f}**",
            "",
        )


def _offline_verifier(exported: Path, public_key: Path) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        report = verify_export(exported, public_key)
        seconds = time.perf_counter() - started
        assert report.problem is None, report.problem
        return report.events / seconds

    return run


# -- the run ---------------------------------------------------------------------------------------

PARTS = ("export", "questions", "freshness", "verify")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--parts", default=",".join(PARTS), help="which of " + ",".join(PARTS))
    parser.add_argument("--events", type=int, help="real events in the store (200,000)")
    parser.add_argument("--synthetic", type=int, help="synthetic events (10,000,000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (5; --quick 3)")
    parser.add_argument("--pg-rounds", type=int, help="rounds of the Postgres scans (3)")
    parser.add_argument("--seconds", type=float, help="freshness: seconds of commands (30)")
    parser.add_argument("--rate", type=float, default=20.0, help="freshness: commands/s (20)")
    parser.add_argument("--rebuild", action="store_true", help="make the cached data again")
    parser.add_argument("--drop-cache", action="store_true", help="remove the cached data, exit")
    args = parser.parse_args()
    if args.drop_cache:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            names = admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (DB_PREFIX + "%",)
            ).fetchall()
        for (name,) in names:
            drop_database(name)
        shutil.rmtree(CACHE, ignore_errors=True)
        print(f"dropped {len(names)} databases and {CACHE}")
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; choose from {PARTS}")
    quick = args.quick
    real = RealStoreSize(
        events=args.events or (20_000 if quick else 200_000),
        people=100 if quick else 500,
        days=5 if quick else 30,
    )
    synthetic = SyntheticSize(events=args.synthetic or (1_000_000 if quick else 10_000_000))
    rounds = args.rounds or (3 if quick else 5)
    CACHE.mkdir(parents=True, exist_ok=True)
    results = Results()
    started = datetime.now(tz=UTC)
    exported: Path | None = None
    made: tuple[Path, SyntheticSize] | None = None
    install_clock(SystemClock())
    needs_store = {"export", "freshness", "verify"} & set(parts)
    settings = real_store(real, rebuild=args.rebuild) if needs_store else None
    try:
        if settings is not None and {"export", "verify"} & set(parts):
            exported = bench_export(settings, rounds, results)
        if "questions" in parts:
            pg_rounds = args.pg_rounds or 3
            made = (bench_questions(synthetic, rounds, pg_rounds, results, args.rebuild), synthetic)
        if "freshness" in parts:
            bench_freshness(real, args.seconds or (10 if quick else 30), args.rate, results)
        if settings is not None and exported is not None and "verify" in parts:
            bench_verify(settings, exported, made, rounds, results)
    finally:
        if exported is not None:
            shutil.rmtree(exported.parent, ignore_errors=True)
    report(results, started)


def report(results: Results, started: datetime) -> None:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    cpu = models[0] if models else cpu
    with psycopg.connect(PG_URL) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} vCPU ({cpu}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}, PostgreSQL {row[0] if row else '?'}, "
        f"DuckDB {duckdb.__version__}; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"date: {started:%Y-%m-%d %H:%M} UTC")
    print(f"command: .venv/bin/python -m bench.forensics {' '.join(sys.argv[1:])}".rstrip())
    print()
    print("| measure | baseline | ours | ours vs baseline |")
    print("|---|---|---|---|")
    for measure, baseline, ours, ratio in results.rows:
        print(f"| {measure} | {baseline} | {ours} | {ratio} |")
    if results.notes:
        print()
        for note in results.notes:
            print(note)


if __name__ == "__main__":
    main()
