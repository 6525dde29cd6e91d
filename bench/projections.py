"""Benchmark: projections, alerts and the stream.

  - rebuild speed (events/s): our runner rebuilding the users read model from a
    log of user events, on each store; side by side on Postgres with the library's
    own ProjectionRunner doing the same work (one row per event) through its
    tracking-recorder view
  - live lag under a steady command load: from a command's save returning to
    (a) the users read model having it, and (b) the alert it raises reaching an
    SSE subscriber over HTTP; p50 and p99

Run: `make bench` (or `.venv/bin/python bench/projections.py [--quick]`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from domain.identity import Identity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.persistence import Tracking  # noqa: E402
from eventsourcing.postgres import PostgresTrackingRecorder  # noqa: E402
from eventsourcing.projection import Projection as LibraryProjection  # noqa: E402
from eventsourcing.projection import ProjectionRunner as LibraryRunner  # noqa: E402
from eventsourcing.utils import get_topic  # noqa: E402
from psycopg.sql import SQL, Identifier  # noqa: E402

from adapters.bootstrap import open_system  # noqa: E402
from adapters.clock import SystemClock  # noqa: E402
from adapters.ledger.port import Ledger  # noqa: E402
from api.local_server import live_server  # noqa: E402
from api.world import World  # noqa: E402
from bench.store import store  # noqa: E402
from client.api import StrongroomClient  # noqa: E402
from domain.access import Permission, Role  # noqa: E402
from domain.application import Strongroom  # noqa: E402
from domain.clock import install_clock  # noqa: E402
from domain.envelope import AuditContext, acting_as  # noqa: E402
from domain.users import User  # noqa: E402
from projections.alert_rules import AlertRules  # noqa: E402
from projections.catalogue import open_runner  # noqa: E402
from projections.runner import Hooks  # noqa: E402

USER_TOPICS = tuple(f"{get_topic(User)}.{n}" for n in ("Registered", "PermissionsChanged"))


def build_log(app: Strongroom, users: int, events_per_user: int) -> int:
    """Users with long histories, saved in bulk (as the system itself)."""
    with acting_as(AuditContext.system("benchmark")):
        batch: list[User] = []
        for i in range(users):
            user = User(
                email=f"u{i}@bench.edu",
                name=f"U{i}",
                signing_public_key="k",
                encryption_public_key="k",
            )
            for j in range(events_per_user - 1):
                grants = ["view"] if j % 2 else ["view", "download"]
                user.set_permissions(
                    profile=None,
                    profile_permissions=grants,
                    granted=[],
                    restricted=[],
                    before=[],
                    after=grants,
                )
            batch.append(user)
            if len(batch) == 20:
                app.save(*batch)
                batch = []
        if batch:
            app.save(*batch)
    return app.recorder.max_notification_id() or 0


class UserRows(PostgresTrackingRecorder):
    """The library-style view: one row per user, updated per event, with tracking."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.lib_users (id uuid PRIMARY KEY, events int)"
            ).format(Identifier(self.datastore.schema))
        )

    def apply(self, user_id: Any, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {0}.lib_users VALUES (%s, 1) ON CONFLICT (id) "
                    "DO UPDATE SET events = lib_users.events + 1"
                ).format(Identifier(self.datastore.schema)),
                (user_id,),
            )
            self._insert_tracking(curs, tracking)


class UserRowsProjection(LibraryProjection[UserRows]):
    name = "libusers"
    topics = USER_TOPICS

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(domain_event.originator_id, tracking)


def library_rebuild(settings: Any, head: int) -> float:
    store_ = settings.store
    env = {
        **settings.app_env(),
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": store_.dbname,
        "POSTGRES_HOST": store_.host,
        "POSTGRES_PORT": str(store_.port),
        "POSTGRES_USER": store_.user,
        "POSTGRES_PASSWORD": store_.password,
    }
    started = time.perf_counter()
    with LibraryRunner(
        application_class=Strongroom,
        projection_class=UserRowsProjection,
        view_class=UserRows,
        env=env,
    ) as runner:
        runner.wait(head, timeout=600)
    return head / (time.perf_counter() - started)


def ours_rebuild(settings: Any, app: Strongroom, head: int) -> float:
    runner = open_runner(settings.projections_url, app, Ledger(app.recorder), rules=AlertRules())
    started = time.perf_counter()
    runner.rebuild("users")
    return head / (time.perf_counter() - started)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def lag_to_read_model(settings: Any, commands: int, rate: float) -> list[float]:
    """Save → users read model, in ms: writer and runner in one process, as in the server."""
    app = open_system(settings).app
    world = World(app)
    targets = [world.person(f"t{i}") for i in range(4)]
    committed: dict[int, float] = {}
    runner = open_runner(
        settings.projections_url,
        app,
        Ledger(app.recorder),
        rules=AlertRules(),
        hooks=Hooks(
            after_commit=lambda name, pos: (
                committed.__setitem__(pos, time.perf_counter()) if name == "users" else None
            )
        ),
    )
    runner.catch_up_all()
    runner.start()
    saved_at: dict[int, float] = {}
    try:
        for i in range(commands):
            with world.acting("root"):
                Identity(app).change_role(targets[i % 4], (Role.SUB_ADMIN, Role.USER)[(i // 4) % 2])
            saved_at[app.recorder.max_notification_id() or 0] = time.perf_counter()
            time.sleep(1 / rate)
        time.sleep(1)
    finally:
        runner.stop()
        app.close()
    lags = []
    for position, at in saved_at.items():
        done = [t for p, t in committed.items() if p >= position]
        if done:
            lags.append((min(done) - at) * 1000)
    return lags


def lag_to_subscriber(settings: Any, commands: int, rate: float) -> list[float]:
    """A role change over HTTP → its "Role Changed" alert on an SSE stream, in ms."""
    app = open_system(settings).app
    world = World(app)
    world.person("officer")
    targets = [str(world.person(f"t{i}")) for i in range(4)]
    with world.acting("root"):
        Identity(app).set_permissions(
            world.ids["officer"], grant={Permission.AUDIT}, restrict=set()
        )
    head = app.recorder.max_notification_id() or 0
    app.close()
    received: dict[int, float] = {}
    sent: list[tuple[float, str, str]] = []
    with live_server(settings) as url:
        officer, root = StrongroomClient(url), StrongroomClient(url)
        officer.login(world.keys["officer"], world.email("officer"))
        root.login(world.keys["root"], world.email("root"))

        def subscribe() -> None:
            with httpx.stream(
                "GET",
                f"{url}/api/v1/alerts/stream",
                timeout=None,
                headers={"Authorization": f"Bearer {officer.token}", "Last-Event-ID": str(head)},
                params={"type": "Role Changed"},
            ) as response:
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line == "":
                        if fields.get("event") == "alert":
                            alert = json.loads(fields["data"])
                            if alert["subject"] in targets:  # not the bootstrap's own
                                received[int(alert["source_position"])] = time.perf_counter()
                            if len(received) == commands:
                                return
                        fields = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(":")
                        fields[key] = value.strip()

        listener = threading.Thread(target=subscribe, daemon=True)
        listener.start()
        time.sleep(0.5)
        for i in range(commands):
            role = ("sub-admin", "user")[(i // 4) % 2]
            sent.append((time.perf_counter(), targets[i % 4], role))  # as it is sent
            root.set_role(targets[i % 4], role)
            time.sleep(1 / rate)
        listener.join(timeout=30)
    # Match each command to its alert by order: each command raises exactly one.
    arrivals = [received[p] for p in sorted(received)]
    return [(arrived - at) * 1000 for (at, _, _), arrived in zip(sent, arrivals, strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    install_clock(SystemClock())
    users, per_user = (200, 50) if args.quick else (1000, 50)
    commands, rate = (60, 20.0) if args.quick else (300, 20.0)
    rows = []
    for kind in ("sqlite", "postgres"):
        with store(kind) as settings:
            app = open_system(settings).app
            head = build_log(app, users, per_user)
            ours = ours_rebuild(settings, app, head)
            lib = library_rebuild(settings, head) if kind == "postgres" else None
            app.close()
            rows.append(
                (
                    kind,
                    f"rebuild users read model, {head:,} events (ev/s)",
                    f"{lib:,.0f}" if lib else "— (needs subscriptions)",
                    f"{ours:,.0f}",
                )
            )
        with store(kind) as settings:
            to_model = lag_to_read_model(settings, commands, rate)
        with store(kind) as settings:
            to_stream = lag_to_subscriber(settings, commands, rate)
            for label, lags in (
                ("save → read model", to_model),
                ("HTTP command sent → SSE subscriber", to_stream),
            ):
                rows.append(
                    (
                        kind,
                        f"live lag {label}, {len(lags)} commands at {rate:g}/s (ms p50 / p99)",
                        "—",
                        f"{statistics.median(lags):.1f} / {percentile(lags, 99):.1f}",
                    )
                )
    print(f"machine: {platform.node()} ({os.cpu_count()} vCPU), Python {platform.python_version()}")
    print(f"date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: python bench/projections.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print("| store | measure | library ProjectionRunner | ours |")
    print("|---|---|---|---|")
    for kind, measure, lib, mine in rows:
        print(f"| {kind} | {measure} | {lib} | {mine} |")


if __name__ == "__main__":
    main()
