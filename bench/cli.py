"""Benchmark: how fast the `strongroom` command starts, against a bare Python start.

An officer types many short commands, so what matters is the wall time of one
whole process: interpreter start, imports, argument parsing, the request, the
output. Measured in interleaved rounds (the order rotates each round, so machine
noise hits all three alike), as subprocesses with stdout to a pipe:

  - baseline: `python -c pass` with the same interpreter
  - `strongroom --help`
  - `strongroom user list`, logged in, against a live `strongroom serve` on a fresh
    SQLite home (made with `strongroom init`)

With `--before DIR` (an export of older code, e.g. `git archive REV | tar -x -C DIR`),
the two `strongroom` commands are also timed with that code first on PYTHONPATH, in
the same rounds, against the same server: a before/after comparison in one run.

Run: `make bench` (or `.venv/bin/python bench/cli.py [--rounds N] [--before DIR]`).
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

# The repository instead of this folder: run as a script, bench/ would come first on
# the path, where a benchmark module named like a standard one would shadow it.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from api.local_server import free_port, wait_until_healthy  # noqa: E402

PYTHON = sys.executable
STRONGROOM = str(Path(sys.executable).parent / "strongroom")
EMAIL = "bench@enclave.example.edu"
PASSPHRASE = "bench"


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds for one whole run of `argv`, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--before", type=Path, help="older code to compare with (a directory)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env.update(STRONGROOM_HOME=home, STRONGROOM_PASSPHRASE=PASSPHRASE)
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
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, lambda: server.poll() is None)
            env["STRONGROOM_SERVER"] = base
            timed([STRONGROOM, "login", "--email", EMAIL], env)
            runs = {
                "python -c pass": ([PYTHON, "-c", "pass"], env),
                "strongroom --help": ([STRONGROOM, "--help"], env),
                "strongroom user list": ([STRONGROOM, "user", "list"], env),
            }
            if args.before:
                before = {**env, "PYTHONPATH": str(args.before.resolve())}
                runs["before: strongroom --help"] = ([STRONGROOM, "--help"], before)
                runs["before: strongroom user list"] = ([STRONGROOM, "user", "list"], before)
            times: dict[str, list[float]] = {name: [] for name in runs}
            for argv, run_env in runs.values():  # warm the page cache and bytecode caches
                timed(argv, run_env)
            names = list(runs)
            for round_ in range(args.rounds):
                shift = round_ % len(names)
                for name in names[shift:] + names[:shift]:
                    times[name].append(timed(*runs[name]))
        finally:
            server.terminate()
            server.wait(timeout=30)

    baseline = statistics.median(times["python -c pass"])
    print(f"machine: {platform.node()} ({os.cpu_count()} vCPU), Python {platform.python_version()}")
    print(f"date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: python bench/cli.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"rounds: {args.rounds}, interleaved; stdout to a pipe; server: `strongroom serve`")
    print()
    print("| command | median (s) | min (s) | max (s) | / baseline | minus baseline (s) |")
    print("|---|---|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"| `{name}` | {median:.3f} | {min(samples):.3f} | {max(samples):.3f} "
            f"| {median / baseline:.1f} | {median - baseline:.3f} |"
        )


if __name__ == "__main__":
    main()
