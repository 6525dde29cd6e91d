"""Who the record says a request came from: forwarding headers only from trusted proxies.

Every event's envelope keeps `client_ip` (and `proxy_ip` when a trusted proxy
forwarded the request) forever. Over a real `strongroom serve`: a local process
that writes X-Forwarded-For must not choose its own address in the record, and a
configured proxy's forward is recorded with both addresses.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers

from adapters.bootstrap import open_system
from adapters.settings import Settings, SettingsError, parse_trusted_proxies
from api.context import client_address
from domain.sessions import Challenge
from tests.api.cli_runner import ADMIN, env_for, strongroom
from tests.live_server import Served, served

FORGED = "203.0.113.7"


@pytest.fixture
def initialised(settings: Settings) -> Settings:
    assert strongroom("init", *ADMIN, env=env_for(settings)).returncode == 0
    return settings


@pytest.fixture
def server(initialised: Settings, tmp_path: Path) -> Iterator[Served]:
    """Configured as shipped: no trusted proxies."""
    with served(initialised, env_for(initialised), tmp_path / "stderr") as running:
        yield running


@pytest.fixture
def behind_proxy(initialised: Settings, tmp_path: Path) -> Iterator[Served]:
    """The loopback address 127.0.0.1 is the configured reverse proxy."""
    env = env_for(initialised, STRONGROOM_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8")
    with served(initialised, env, tmp_path / "stderr") as running:
        yield running


def challenge_envelope(
    settings: Settings, url: str, headers: dict[str, str], local_address: str = "127.0.0.1"
) -> Any:
    """Ask for a login challenge as a client at `local_address`; its recorded event."""
    transport = httpx.HTTPTransport(local_address=local_address)
    with httpx.Client(transport=transport) as http:
        response = http.post(
            f"{url}/api/v1/auth/challenge", json={"email": "root@enclave.edu"}, headers=headers
        )
    assert response.status_code == 200, response.text
    nonce = base64.b64decode(response.json()["nonce"])
    app = open_system(settings).app
    try:
        (issued,) = app.events.get(Challenge.create_id(nonce.hex()))
    finally:
        app.close()
    return issued


def test_a_local_process_cannot_forge_its_address_in_the_record(
    server: Served, initialised: Settings
) -> None:
    issued = challenge_envelope(initialised, server.url, {"X-Forwarded-For": FORGED})
    assert issued.client_ip == "127.0.0.1"
    assert issued.proxy_ip is None


def test_a_trusted_proxys_forward_is_recorded_with_both_addresses(
    behind_proxy: Served, initialised: Settings
) -> None:
    # The client wrote the left-most entry itself; the proxy appended what it saw.
    issued = challenge_envelope(
        initialised, behind_proxy.url, {"X-Forwarded-For": f"{FORGED}, 198.51.100.9"}
    )
    assert issued.client_ip == "198.51.100.9"
    assert issued.proxy_ip == "127.0.0.1"


def test_a_peer_that_is_not_a_trusted_proxy_is_its_own_client(
    behind_proxy: Served, initialised: Settings
) -> None:
    # 127.0.0.2 is loopback too, but not the configured proxy.
    issued = challenge_envelope(
        initialised, behind_proxy.url, {"X-Forwarded-For": FORGED}, local_address="127.0.0.2"
    )
    assert issued.client_ip == "127.0.0.2"
    assert issued.proxy_ip is None


def test_a_bad_proxy_setting_stops_the_server_in_one_line(initialised: Settings) -> None:
    env = env_for(initialised, STRONGROOM_TRUSTED_PROXIES="127.0.0.1, proxy.internal")
    result = strongroom("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "STRONGROOM_TRUSTED_PROXIES" in result.stderr
    assert "'proxy.internal'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- the decision itself, case by case ------------------------------------------------

PROXIES = parse_trusted_proxies("10.0.0.0/8, 192.0.2.1, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # Not a trusted proxy: its headers say nothing.
        ("198.51.100.1", "203.0.113.7", ("198.51.100.1", None)),
        # A trusted proxy with nothing forwarded made the request itself.
        ("192.0.2.1", None, ("192.0.2.1", None)),
        ("192.0.2.1", "203.0.113.7", ("203.0.113.7", "192.0.2.1")),
        # Behind two proxies: the right-most untrusted entry, never what the client wrote.
        ("192.0.2.1", "6.6.6.6, 203.0.113.7, 10.1.1.1", ("203.0.113.7", "192.0.2.1")),
        # Ports and brackets, as some proxies write them.
        ("192.0.2.1", "203.0.113.7:5555", ("203.0.113.7", "192.0.2.1")),
        ("192.0.2.1", "[2001:db9::5]:443", ("2001:db9::5", "192.0.2.1")),
        # Garbage from a trusted proxy: believe nothing left of it.
        ("192.0.2.1", "203.0.113.7, unknown", ("192.0.2.1", "192.0.2.1")),
        # Only proxies in the chain: the left-most of them is where it started.
        ("10.0.0.2", "10.0.0.9, 10.0.0.5", ("10.0.0.9", "10.0.0.2")),
        ("2001:db8::1", "203.0.113.7", ("203.0.113.7", "2001:db8::1")),
    ],
)
def test_client_address(
    peer: str, forwarded: str | None, expected: tuple[str | None, str | None]
) -> None:
    headers = Headers({"x-forwarded-for": forwarded} if forwarded is not None else {})
    assert client_address(peer, headers, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer_always() -> None:
    headers = Headers({"x-forwarded-for": "203.0.113.7"})
    assert client_address("127.0.0.1", headers, ()) == ("127.0.0.1", None)


@pytest.mark.parametrize("raw", ["localhost", "10.0.0.7/8", "10.0.0.0/33", "1.2.3"])
def test_proxy_settings_are_checked(raw: str) -> None:
    with pytest.raises(SettingsError, match="STRONGROOM_TRUSTED_PROXIES"):
        parse_trusted_proxies(raw)
