"""`strongroom serve` as a separate process, with what it writes to stderr kept."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.settings import Settings
from api.local_server import free_port, wait_until_healthy


@dataclass
class Served:
    """A `strongroom serve` process: where it answers, and what it wrote to stderr."""

    url: str
    stderr_path: Path
    process: subprocess.Popen[bytes]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextmanager
def served(settings: Settings, env: dict[str, str], stderr_path: Path) -> Iterator[Served]:
    """Run `strongroom serve` on an initialised store with `env`; stderr goes to a file.

    Stopped with SIGTERM, as an operator would, so its shutdown runs to the end.
    """
    from tests.api.cli_runner import STRONGROOM

    port = free_port()
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [STRONGROOM, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(base, lambda: process.poll() is None)
        except RuntimeError:
            raise RuntimeError(f"server did not start: {stderr_path.read_text()}") from None
        yield Served(base, stderr_path, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
