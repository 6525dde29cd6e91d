"""Benchmark: logins and authenticated requests over HTTP, on Postgres.

A real `strongroom serve` process on a fresh Postgres database; this process is
the client, over keep-alive HTTP on loopback. Measured in interleaved rounds:

  - logins/s: challenge + signature + login (two requests, Ed25519 sign and verify)
  - the session check: the same cheap request (`GET /healthz`) without a token
    and with a bearer token (session hash lookup, user check, audit context);
    the difference is what the session check adds to every request
  - an authenticated read, `GET /api/v1/users/me`

Run: `make bench` (or `.venv/bin/python bench/auth.py [--quick]`).
Postgres: STRONGROOM_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.local_server import free_port, wait_until_healthy  # noqa: E402
from bench.store import postgres_database  # noqa: E402
from client.api import StrongroomClient  # noqa: E402
from client.keys import UserKeys  # noqa: E402
from client.session_file import default_key_file  # noqa: E402

STRONGROOM = str(Path(sys.executable).parent / "strongroom")
EMAIL = "bench@enclave.example.edu"
PASSPHRASE = "bench"


def per_second(n: int, seconds: float) -> float:
    return n / seconds


def timed_requests(http: httpx.Client, path: str, n: int, token: str | None) -> float:
    """Mean seconds per request over `n` sequential requests."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    for _ in range(n):
        response = http.get(path, headers=headers)
        assert response.status_code == 200, response.text
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, logins, requests = (3, 30, 200) if args.quick else (7, 100, 1000)

    with tempfile.TemporaryDirectory() as home, postgres_database() as url:
        env = {
            **os.environ,
            "STRONGROOM_HOME": home,
            "STRONGROOM_DATABASE_URL": url,
            "STRONGROOM_PASSPHRASE": PASSPHRASE,
            # Hundreds of logins a minute from one address are what is measured here,
            # not the per-address limit on anonymous writes (bench/http.py keeps it).
            "STRONGROOM_RATE_ANONYMOUS": str(10**9),
        }
        subprocess.run(
            [STRONGROOM, "init", "--admin-email", EMAIL],
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [STRONGROOM, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, lambda: server.poll() is None)
            keys = UserKeys.load(default_key_file(Path(home), EMAIL), PASSPHRASE)
            with StrongroomClient(base) as client, httpx.Client(base_url=base) as http:
                token = client.login(keys, EMAIL)["token"]
                timed_requests(http, "/healthz", 50, token)  # warm up both paths

                login_rates = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    for _ in range(logins):
                        client.login(keys, EMAIL)
                    login_rates.append(per_second(logins, time.perf_counter() - started))

                anonymous, authenticated, me = [], [], []
                for i in range(rounds):
                    order = [None, token] if i % 2 == 0 else [token, None]
                    for t in order:
                        (anonymous if t is None else authenticated).append(
                            timed_requests(http, "/healthz", requests, t)
                        )
                    me.append(timed_requests(http, "/api/v1/users/me", requests, token))
        finally:
            server.terminate()
            server.wait(timeout=30)

    plain = statistics.median(anonymous) * 1000
    checked = statistics.median(authenticated) * 1000
    print(f"machine: {platform.node()} ({os.cpu_count()} vCPU), Python {platform.python_version()}")
    print(f"date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: python bench/auth.py {' '.join(sys.argv[1:])}".rstrip())
    print("store: postgres; server: `strongroom serve` (one uvicorn worker); client: this process")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(
        f"| logins/s (challenge + sign + login), median of {rounds} | "
        f"{statistics.median(login_rates):,.0f} |"
    )
    print(f"| GET /healthz without a session (ms/request) | {plain:.2f} |")
    print(f"| GET /healthz with a bearer session (ms/request) | {checked:.2f} |")
    print(f"| the session check adds (ms/request) | {checked - plain:.2f} |")
    print(f"| authenticated requests/s (GET /healthz) | {1000 / checked:,.0f} |")
    print(f"| GET /api/v1/users/me (ms/request) | {statistics.median(me) * 1000:.2f} |")


if __name__ == "__main__":
    main()
