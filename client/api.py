"""The client SDK: talks to a Strongroom server, signing with keys that stay on this machine."""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from client.errors import ApiError
from client.sse import parse_events

if TYPE_CHECKING:
    # Only annotations: a client that reads (the CLI's listings) never loads cryptography.
    from client.keys import UserKeys

__all__ = ["ApiError", "StrongroomClient"]


class StrongroomClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=30,
            transport=transport,
            verify=_verification_for(self.base_url),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StrongroomClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, headers=self._headers(), **kwargs)
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- account ----------------------------------------------------------------------

    def register(self, keys: UserKeys, email: str, name: str) -> str:
        """Register with public keys only; returns the new (deactivated) user's id."""
        return str(self.request("POST", "/api/v1/users", json=keys.registration(email, name))["id"])

    def login(self, keys: UserKeys, email: str) -> dict[str, Any]:
        """Sign a fresh challenge; keeps the session token for later requests."""
        challenge = self.request("POST", "/api/v1/auth/challenge", json={"email": email})
        nonce = base64.b64decode(challenge["nonce"])
        signature = keys.login_signature(nonce, email)
        session = self.request(
            "POST",
            "/api/v1/auth/login",
            json={
                "email": email,
                "nonce": challenge["nonce"],
                "signature": base64.b64encode(signature).decode(),
            },
        )
        self.token = session["token"]
        return dict(session)

    def logout(self) -> None:
        self.request("POST", "/api/v1/auth/logout")
        self.token = None

    def me(self) -> dict[str, Any]:
        return dict(self.request("GET", "/api/v1/users/me"))

    # -- users ------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/users"))

    def user(self, user_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v1/users/{user_id}"))

    def activate(self, user_id: str) -> None:
        self.request("POST", f"/api/v1/users/{user_id}/activate")

    def deactivate(self, user_id: str) -> None:
        self.request("POST", f"/api/v1/users/{user_id}/deactivate")

    def unlock(self, user_id: str) -> None:
        self.request("POST", f"/api/v1/users/{user_id}/unlock")

    def set_role(self, user_id: str, role: str) -> None:
        self.request("PUT", f"/api/v1/users/{user_id}/role", json={"role": role})

    def apply_profile(self, user_id: str, profile: str) -> None:
        self.request("PUT", f"/api/v1/users/{user_id}/profile", json={"profile": profile})

    def set_permissions(
        self, user_id: str, *, grant: Sequence[str] = (), restrict: Sequence[str] = ()
    ) -> None:
        self.request(
            "PUT",
            f"/api/v1/users/{user_id}/permissions",
            json={"grant": list(grant), "restrict": list(restrict)},
        )

    # -- teams and profiles -----------------------------------------------------------

    def create_team(self, name: str) -> str:
        return str(self.request("POST", "/api/v1/teams", json={"name": name})["id"])

    def teams(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/teams"))

    def team(self, team_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v1/teams/{team_id}"))

    def add_member(self, team_id: str, user_id: str) -> None:
        self.request("POST", f"/api/v1/teams/{team_id}/members", json={"user_id": user_id})

    def remove_member(self, team_id: str, user_id: str) -> None:
        self.request("DELETE", f"/api/v1/teams/{team_id}/members/{user_id}")

    def assign_sub_admin(self, team_id: str, user_id: str) -> None:
        self.request("POST", f"/api/v1/teams/{team_id}/sub-admins", json={"user_id": user_id})

    def set_quota(self, team_id: str, *, storage_bytes: int, vm_count: int, cpu_cores: int) -> None:
        self.request(
            "PUT",
            f"/api/v1/teams/{team_id}/quota",
            json={"storage_bytes": storage_bytes, "vm_count": vm_count, "cpu_cores": cpu_cores},
        )

    def create_profile(self, name: str, permissions: list[str]) -> None:
        self.request("POST", "/api/v1/profiles", json={"name": name, "permissions": permissions})

    def profiles(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/profiles"))

    # -- alerts (compliance officers) -------------------------------------------------

    def alerts(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        min_severity: str | None = None,
        type: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """One page of past alerts in log order: `{"alerts": [...], "next_after": N}`."""
        params = _filters(min_severity=min_severity, type=type, actor=actor)
        params.update(after=after, limit=limit)
        return dict(self.request("GET", "/api/v1/alerts", params=params))

    def refusals(self, *, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """One page of refused attempts, naming who and whom: `{"refusals": [...], ...}`."""
        params = {"after": after, "limit": limit}
        return dict(self.request("GET", "/api/v1/refusals", params=params))

    def sessions(self, *, user_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest sessions, of everyone or of one person (officers)."""
        params: dict[str, Any] = {"limit": limit}
        if user_id:
            params["user_id"] = user_id
        return list(self.request("GET", "/api/v1/sessions", params=params))

    def acknowledge_alert(self, alert_id: str, note: str = "") -> None:
        self.request("POST", f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": note})

    def resolve_alert(self, alert_id: str, note: str = "") -> None:
        self.request("POST", f"/api/v1/alerts/{alert_id}/resolve", json={"note": note})

    def stream_alerts(
        self,
        *,
        after: int | None = None,
        min_severity: str | None = None,
        type: str | None = None,
        actor: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Alerts from the live stream, after position `after`, until the server hangs up."""
        headers = self._headers()
        if after is not None:
            headers["Last-Event-ID"] = str(after)
        params = _filters(min_severity=min_severity, type=type, actor=actor)
        with self._http.stream(
            "GET", "/api/v1/alerts/stream", params=params, headers=headers, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            for event in parse_events(response.iter_lines()):
                if event.event == "alert":
                    yield dict(json.loads(event.data))

    def follow_alerts(
        self, *, after: int = 0, retry_seconds: float = 1.0, **filters: str | None
    ) -> Iterator[dict[str, Any]]:
        """Alerts as they are raised, forever: reconnects without gaps or repeats."""
        while True:
            try:
                for alert in self.stream_alerts(after=after, **filters):  # type: ignore[arg-type]
                    after = int(alert["position"])
                    yield alert
            except httpx.TransportError:
                pass
            time.sleep(retry_seconds)


def _verification_for(base_url: str) -> ssl.SSLContext | bool:
    """Certificate checks as usual for an https server; none to load for a plain-http one.

    Requests go to `base_url` and redirects are not followed, so a client of an
    http:// server never speaks TLS; yet httpx would load the whole CA bundle for it
    (about 30 ms, paid by every short CLI command). A context that trusts no one costs
    nothing to make, and any TLS it were ever used for would fail closed.
    """
    if httpx.URL(base_url).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def _filters(**given: str | None) -> dict[str, Any]:
    return {key: value for key, value in given.items() if value}


def _api_error(response: httpx.Response) -> ApiError:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    return ApiError(response.status_code, detail)
