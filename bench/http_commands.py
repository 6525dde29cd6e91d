"""Benchmark: the same commands in-process and over HTTP, side by side, at 1 and 16 clients.

What the web path costs on top of the store. One run, per store:

  - a real `strongroom serve` process on a fresh store (Postgres; SQLite too unless
    `--stores postgres`), and in this process the same `Strongroom` application
    opened on the same store, without a server or projection runner around it
  - the command is `create_team` (a unique name each time): in-process it is
    `Identity(app).create_team(name)` inside an audit context; over HTTP it is
    `POST /api/v1/teams` with a bearer session, on keep-alive connections from a
    plain `http.client` (so the client costs little next to the server)
  - an authenticated read beside it, `GET /api/v1/teams/{id}` (`view_team`)
  - 1 client (sequential) and 16 concurrent clients (threads), in interleaved
    rounds (in-process and HTTP alternate which goes first); latency p50/p99 over
    all rounds, throughput as the median of the rounds

Run: `.venv/bin/python bench/http_commands.py [--quick] [--stores postgres,sqlite]`.
Postgres: STRONGROOM_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import open_system  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from api.local_server import free_port, wait_until_healthy  # noqa: E402
from bench.store import postgres_database  # noqa: E402
from client.api import StrongroomClient  # noqa: E402
from client.keys import UserKeys  # noqa: E402
from client.session_file import default_key_file  # noqa: E402
from domain.envelope import AuditContext, acting_as  # noqa: E402
from domain.identity import Identity  # noqa: E402

STRONGROOM = str(Path(sys.executable).parent / "strongroom")
EMAIL = "bench@enclave.example.edu"
PASSPHRASE = "bench"
CLIENTS = (1, 16)

Call = Callable[[], None]


@dataclass
class Sample:
    """Latencies (seconds) and throughputs (commands/s) of one way of doing one thing."""

    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def run_clients(make_call: Callable[[], Call], clients: int, n: int, into: Sample) -> None:
    """`n` calls spread over `clients` threads (each with its own call), all at once."""
    per_client = n // clients
    start = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []

    def client(mine: list[float]) -> None:
        try:
            call = make_call()
            start.wait()
            for _ in range(per_client):
                began = time.perf_counter()
                call()
                mine.append(time.perf_counter() - began)
        except BaseException as error:  # reported below, after every thread is done
            errors.append(error)
            start.abort()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    for mine in latencies:
        into.latencies += mine
    into.rates.append(per_client * clients / elapsed)


class Http:
    """One keep-alive connection to the server, with the bearer session."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: object, expect: int) -> bytes:
        payload = json.dumps(body) if body is not None else None
        self.conn.request(method, path, payload, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data!r}")
        return data


@contextmanager
def server_on(kind: str) -> Iterator[tuple[Settings, int, dict[str, str]]]:
    """A fresh store of `kind`, initialised, with `strongroom serve` running on it."""
    with ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory())
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")},
            "STRONGROOM_HOME": home,
            "STRONGROOM_PASSPHRASE": PASSPHRASE,
        }
        if kind == "postgres":
            env["STRONGROOM_DATABASE_URL"] = stack.enter_context(postgres_database())
        subprocess.run(
            [STRONGROOM, "init", "--admin-email", EMAIL], env=env, check=True, capture_output=True
        )
        port = free_port()
        server = subprocess.Popen(
            [STRONGROOM, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", lambda: server.poll() is None)
            yield Settings.from_env(env), port, env
        finally:
            server.terminate()
            server.wait(timeout=30)


def measure(kind: str, rounds: int, n: int) -> dict[str, Sample]:
    results: dict[str, Sample] = {}
    with server_on(kind) as (settings, port, _env):
        keys = UserKeys.load(default_key_file(settings.home, EMAIL), PASSPHRASE)
        with StrongroomClient(f"http://127.0.0.1:{port}") as client:
            token = client.login(keys, EMAIL)["token"]
        system = open_system(settings)
        app = system.app
        try:
            admin = Identity(app).user_by_email(EMAIL)
            context = AuditContext(str(admin.id), str(admin.role), None, "bench", "127.0.0.1")
            with acting_as(context):
                team_id = Identity(app).create_team(f"bench-{uuid4().hex}")

            def in_process_create() -> Call:
                identity = Identity(app)

                def call() -> None:
                    with acting_as(context):
                        identity.create_team(f"t-{uuid4().hex}")

                return call

            def http_create() -> Call:
                conn = Http(port, token)
                return lambda: (
                    conn.request("POST", "/api/v1/teams", {"name": f"t-{uuid4().hex}"}, 201)
                    and None
                )

            def in_process_view() -> Call:
                identity = Identity(app)

                def call() -> None:
                    with acting_as(context):
                        identity.view_team(UUID(str(team_id)))

                return call

            def http_view() -> Call:
                conn = Http(port, token)
                return lambda: conn.request("GET", f"/api/v1/teams/{team_id}", None, 200) and None

            pairs = {
                "create_team": (in_process_create, http_create),
                "view_team": (in_process_view, http_view),
            }
            # Warm both paths (caches, pools, the server's first requests).
            for inproc, over_http in pairs.values():
                run_clients(inproc, 1, 50, Sample())
                run_clients(over_http, 1, 50, Sample())
            for r in range(rounds):
                for command, (inproc, over_http) in pairs.items():
                    for clients in CLIENTS:
                        ways = [("in-process", inproc), ("http", over_http)]
                        if r % 2:
                            ways.reverse()
                        for way, make in ways:
                            key = f"{command}|{clients}|{way}"
                            run_clients(make, clients, n, results.setdefault(key, Sample()))
        finally:
            system.close()
    return results


def report(kind: str, results: dict[str, Sample]) -> None:
    print(f"\n### {kind}\n")
    print(
        "| command | clients | in-process p50 / p99 (ms) | HTTP p50 / p99 (ms) "
        "| HTTP / in-process p50 | in-process /s | HTTP /s |"
    )
    print("|---|---|---|---|---|---|---|")
    for command in ("create_team", "view_team"):
        for clients in CLIENTS:
            inproc = results[f"{command}|{clients}|in-process"]
            over_http = results[f"{command}|{clients}|http"]
            print(
                f"| {command} | {clients} "
                f"| {inproc.p(0.5):.2f} / {inproc.p(0.99):.1f} "
                f"| {over_http.p(0.5):.2f} / {over_http.p(0.99):.1f} "
                f"| {over_http.p(0.5) / inproc.p(0.5):.2f} "
                f"| {inproc.rate:,.0f} | {over_http.rate:,.0f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--stores", default="postgres,sqlite", help="comma-separated")
    args = parser.parse_args()
    rounds, n = (3, 160) if args.quick else (5, 480)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    print(f"machine: {platform.node()} ({os.cpu_count()} vCPU), Python {platform.python_version()}")
    print(f"date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: python bench/http_commands.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"rounds: {rounds} x {n} calls per way, command and client count")
    for kind in stores:
        report(kind, measure(kind, rounds, n))


if __name__ == "__main__":
    main()
