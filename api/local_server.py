"""A real Strongroom server on loopback, in a thread of this process: for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from adapters.settings import Settings
from api.app import create_app
from domain.clock import Clock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_healthy(base: str, alive: Callable[[], bool], timeout: float = 30) -> None:
    """Poll /healthz until the server at `base` answers, or fail if it died or never did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server at {base} did not start") from None
            time.sleep(0.05)


@contextmanager
def live_server(settings: Settings, *, clock: Clock | None = None) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            proxy_headers=False,  # as `strongroom serve`: our middleware decides the client
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, thread.is_alive)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
