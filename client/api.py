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
        # A login starts a new session: an old token (expired, perhaps) is not sent.
        self.token = None
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

    # -- API tokens -------------------------------------------------------------------

    def create_api_token(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        days: int | None = None,
        expires_at: str | None = None,
    ) -> dict[str, Any]:
        """A new token (officers): its `secret` is in this answer and never again."""
        body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if days is not None:
            body["expires_in_days"] = days
        if expires_at is not None:
            body["expires_at"] = expires_at
        return dict(self.request("POST", "/api/v1/audit/tokens", json=body))

    def api_tokens(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/audit/tokens")["tokens"])

    def revoke_api_token(self, token_id: str, reason: str = "") -> None:
        from urllib.parse import quote  # a typed id stays one path segment

        params = {"reason": reason} if reason else None
        self.request("DELETE", f"/api/v1/audit/tokens/{quote(token_id, safe='')}", params=params)

    # -- time travel (compliance officers) ----------------------------------------------

    def state_as_of(self, aggregate_id: str, at: str | int) -> dict[str, Any]:
        """An aggregate as of a log position or an ISO 8601 time (with its offset).

        `{"aggregate_id", "type", "version", "as_of_position", "recorded_at", "state", ...}`;
        404 when it did not exist then. The read is recorded.
        """
        from urllib.parse import quote  # a typed id stays one path segment

        path = f"/api/v1/audit/aggregates/{quote(str(aggregate_id), safe='')}"
        return dict(self.request("GET", path, params={"as_of": str(at)}))

    def organisation_as_of(self, at: str | int) -> dict[str, Any]:
        """People, teams and profiles as of a log position or a time (the read is recorded)."""
        return dict(self.request("GET", "/api/v1/audit/organisation", params={"as_of": str(at)}))

    # -- forensic questions (compliance officers) ---------------------------------------

    @staticmethod
    def _window(start: str | None, end: str | None) -> dict[str, str]:
        """The `from` and `to` of a window [start, end): ISO 8601 times with their offsets."""
        given = {"from": start, "to": end}
        return {name: value for name, value in given.items() if value is not None}

    def breach_scope(
        self,
        *,
        actor: str | None = None,
        session: str | None = None,
        ip: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> dict[str, Any]:
        """What an actor (id or email), a session or a CIDR range touched in [start, end).

        `{"events", "actors", "sessions", "addresses", "touched", "users", "teams",
        "event_counts", "denied", "truncated"}`; the question is recorded.
        """
        params = _filters(actor=actor, session=session, ip=ip) | self._window(start, end)
        return dict(self.request("GET", "/api/v1/audit/breach-scope", params=params))

    def lineage(
        self,
        aggregate_id: str,
        *,
        start: str | None = None,
        end: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> dict[str, Any]:
        """Every event of an aggregate and about it, in order: `{"rows": [...], "truncated"}`."""
        from urllib.parse import quote  # a typed id stays one path segment

        params: dict[str, Any] = {"after": after, "limit": limit} | self._window(start, end)
        path = f"/api/v1/audit/lineage/{quote(str(aggregate_id), safe='')}"
        return dict(self.request("GET", path, params=params))

    def timeline(
        self,
        user: str,
        *,
        start: str | None = None,
        end: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> dict[str, Any]:
        """What a person (id or email) did and what was done to them, merged in order."""
        from urllib.parse import quote  # an email stays one path segment

        params: dict[str, Any] = {"after": after, "limit": limit} | self._window(start, end)
        path = f"/api/v1/audit/timeline/{quote(user, safe='')}"
        return dict(self.request("GET", path, params=params))

    def who_had(
        self,
        *,
        role: str | None = None,
        team: str | None = None,
        permission: str | None = None,
        at: str | None = None,
    ) -> dict[str, Any]:
        """Who held a role, a team's membership or a permission at `at` (latest if None)."""
        params = _filters(role=role, team=team, permission=permission)
        if at is not None:
            params["at"] = at
        return dict(self.request("GET", "/api/v1/audit/who-had", params=params))

    def logins_from(
        self,
        cidr: str,
        *,
        start: str | None = None,
        end: str | None = None,
    ) -> dict[str, Any]:
        """Logins and refused logins from a CIDR range in [start, end), with who and why."""
        params = {"cidr": cidr} | self._window(start, end)
        return dict(self.request("GET", "/api/v1/audit/logins", params=params))

    # -- reports (compliance officers) ------------------------------------------------

    def monthly_report(
        self, month: str, *, format: str = "bundle", position: int | None = None
    ) -> dict[str, Any]:
        """The monthly report's file: `{"content", "filename", "media_type", "position"}`."""
        body: dict[str, Any] = {"month": month, "format": format}
        if position is not None:
            body["position"] = position
        return self._report_file("/api/v1/audit/reports/monthly", body)

    def custom_report(
        self,
        definition: dict[str, Any],
        *,
        parameters: dict[str, Any] | None = None,
        format: str = "bundle",
    ) -> dict[str, Any]:
        """A custom report (title, queries: sql or saved, parameters) as a file, as above."""
        body = {"definition": definition, "parameters": parameters or {}, "format": format}
        return self._report_file("/api/v1/audit/reports/custom", body)

    def _report_file(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        # A report reads the whole month's history: give it time.
        response = self._http.post(path, json=body, headers=self._headers(), timeout=300)
        if response.status_code >= 400:
            raise _api_error(response)
        disposition = response.headers.get("content-disposition", "")
        filename = disposition.partition('filename="')[2].partition('"')[0]
        return {
            "content": response.content,
            "filename": filename,
            "media_type": response.headers.get("content-type", ""),
            "position": int(response.headers.get("x-report-position", "0")),
        }

    # -- forensic queries and saved queries (compliance officers) ------------------------

    @staticmethod
    def _limits(row_limit: int | None, time_limit: float | None) -> dict[str, Any]:
        given = {"row_limit": row_limit, "time_limit": time_limit}
        return {name: value for name, value in given.items() if value is not None}

    @staticmethod
    def _query_timeout(time_limit: float | None) -> float:
        # The server's time limit (30 s unless given), plus bringing its export up to date.
        return (time_limit or 30.0) + 60.0

    def query(
        self,
        sql: str,
        *,
        parameters: dict[str, Any] | None = None,
        row_limit: int | None = None,
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """One SELECT over the forensic views, as of now; the run is recorded.

        `{"columns", "rows", "truncated", "row_count", "exported_upto", "run_id"}`;
        `parameters` are bound to the SQL's `$name`s, never pasted into it.
        """
        body = {"sql": sql, "parameters": parameters or {}} | self._limits(row_limit, time_limit)
        return dict(
            self.request(
                "POST", "/api/v1/audit/query", json=body, timeout=self._query_timeout(time_limit)
            )
        )

    def saved_queries(self, *, tag: str | None = None, search: str | None = None) -> list[Any]:
        """The saved queries in use, with this tag and mentioning this text."""
        params = _filters(tag=tag, search=search)
        return list(self.request("GET", "/api/v1/audit/saved-queries", params=params))

    @staticmethod
    def _saved_path(name: str) -> str:
        from urllib.parse import quote  # a typed name stays one path segment

        return f"/api/v1/audit/saved-queries/{quote(name, safe='')}"

    def saved_query(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", self._saved_path(name)))

    def create_saved_query(
        self,
        name: str,
        sql: str,
        *,
        description: str = "",
        tags: Sequence[str] = (),
        parameters: Sequence[dict[str, Any]] = (),
        return_type: str = "table",
    ) -> dict[str, Any]:
        """Save a query; `parameters` are `{"name", "type", "description"?, "default"?}`."""
        body = {
            "name": name,
            "sql": sql,
            "description": description,
            "tags": list(tags),
            "parameters": list(parameters),
            "return_type": return_type,
        }
        return dict(self.request("POST", "/api/v1/audit/saved-queries", json=body))

    def update_saved_query(
        self,
        name: str,
        sql: str,
        *,
        description: str = "",
        tags: Sequence[str] = (),
        parameters: Sequence[dict[str, Any]] = (),
        return_type: str = "table",
    ) -> dict[str, Any]:
        """A new revision: the whole definition is replaced."""
        body = {
            "sql": sql,
            "description": description,
            "tags": list(tags),
            "parameters": list(parameters),
            "return_type": return_type,
        }
        return dict(self.request("PUT", self._saved_path(name), json=body))

    def retire_saved_query(self, name: str) -> None:
        self.request("DELETE", self._saved_path(name))

    def run_saved_query(
        self,
        name: str,
        *,
        parameters: dict[str, Any] | None = None,
        row_limit: int | None = None,
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """Run a saved query by name with its parameters, as of now; the run is recorded."""
        body = {"parameters": parameters or {}} | self._limits(row_limit, time_limit)
        return dict(
            self.request(
                "POST",
                f"{self._saved_path(name)}/run",
                json=body,
                timeout=self._query_timeout(time_limit),
            )
        )

    # -- compliance: requirements, security levels, certifications ------------------------

    @staticmethod
    def _segment(value: str) -> str:
        from urllib.parse import quote  # a typed value stays one path segment

        return quote(str(value), safe="")

    def create_requirement(
        self, name: str, *, description: str = "", lifespan_days: int | None = None
    ) -> str:
        """A security requirement; `lifespan_days` bounds its certifications (None: no limit)."""
        body = {"name": name, "description": description, "lifespan_days": lifespan_days}
        return str(self.request("POST", "/api/v1/requirements", json=body)["id"])

    def requirements(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/requirements"))

    def change_requirement(
        self,
        requirement_id: str,
        *,
        description: str | None = None,
        lifespan_days: int | None | str = "unchanged",
    ) -> None:
        """Change what is given; `lifespan_days=None` removes the limit."""
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if lifespan_days != "unchanged":
            body["lifespan_days"] = lifespan_days
        path = f"/api/v1/requirements/{self._segment(requirement_id)}"
        self.request("PATCH", path, json=body)

    def create_security_level(
        self, name: str, *, description: str = "", requirement_ids: Sequence[str] = ()
    ) -> str:
        body = {"name": name, "description": description, "requirement_ids": list(requirement_ids)}
        return str(self.request("POST", "/api/v1/security-levels", json=body)["id"])

    def security_levels(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/security-levels"))

    def _level_requirement(self, level_id: str, requirement_id: str) -> str:
        level, requirement = self._segment(level_id), self._segment(requirement_id)
        return f"/api/v1/security-levels/{level}/requirements/{requirement}"

    def add_level_requirement(self, level_id: str, requirement_id: str) -> list[dict[str, Any]]:
        """Add a requirement to a level; the projects affected, `[{"id", "name"}]`."""
        path = self._level_requirement(level_id, requirement_id)
        return list(self.request("PUT", path)["projects_affected"])

    def remove_level_requirement(
        self, level_id: str, requirement_id: str, *, acknowledge: bool = False
    ) -> list[dict[str, Any]]:
        """Remove a requirement; a level in use needs `acknowledge` (409 naming its projects)."""
        path = self._level_requirement(level_id, requirement_id)
        params = {"acknowledge": "true"} if acknowledge else None
        return list(self.request("DELETE", path, params=params)["projects_affected"])

    def certify(self, user_id: str, requirement_id: str, expires_at: str | None) -> None:
        """Certify (or re-certify) until `expires_at` (ISO 8601 with its offset; None: never)."""
        body = {"user_id": user_id, "requirement_id": requirement_id, "expires_at": expires_at}
        self.request("POST", "/api/v1/certifications", json=body)

    def decertify(self, user_id: str, requirement_id: str, reason: str) -> None:
        path = f"/api/v1/certifications/{self._segment(user_id)}/{self._segment(requirement_id)}"
        self.request("DELETE", path, params={"reason": reason})

    def certifications(
        self, *, user_id: str | None = None, expiring_within_days: int | None = None
    ) -> list[dict[str, Any]]:
        """Everyone's certifications, or one person's; or only those expiring soon."""
        params: dict[str, Any] = _filters(user_id=user_id)
        if expiring_within_days is not None:
            params["expiring_within_days"] = expiring_within_days
        return list(self.request("GET", "/api/v1/certifications", params=params))

    # -- projects and project tags ----------------------------------------------------

    def create_project(
        self,
        name: str,
        security_level_id: str,
        *,
        description: str = "",
        parent_id: str | None = None,
        allows_mixing: bool = False,
    ) -> str:
        body = {
            "name": name,
            "security_level_id": security_level_id,
            "description": description,
            "parent_id": parent_id,
            "allows_mixing": allows_mixing,
        }
        return str(self.request("POST", "/api/v1/projects", json=body)["id"])

    def projects(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/projects"))

    def project(self, project_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v1/projects/{self._segment(project_id)}"))

    def non_compliant_members(self) -> list[dict[str, Any]]:
        """Every member whose lapse is recorded, with the reason and since when."""
        return list(self.request("GET", "/api/v1/projects/non-compliant"))

    def _project_member(self, project_id: str, user_id: str) -> str:
        return f"/api/v1/projects/{self._segment(project_id)}/members/{self._segment(user_id)}"

    def add_project_member(
        self, project_id: str, user_id: str, restrictions: Sequence[str] = ()
    ) -> None:
        """Admit a person; `restrictions` of "cannot-view", "cannot-download"."""
        body = {"user_id": user_id, "restrictions": list(restrictions)}
        self.request("POST", f"/api/v1/projects/{self._segment(project_id)}/members", json=body)

    def remove_project_member(self, project_id: str, user_id: str, reason: str) -> None:
        self.request("DELETE", self._project_member(project_id, user_id), params={"reason": reason})

    def set_project_restrictions(
        self, project_id: str, user_id: str, restrictions: Sequence[str]
    ) -> None:
        path = f"{self._project_member(project_id, user_id)}/restrictions"
        self.request("PUT", path, json={"restrictions": list(restrictions)})

    def park_project(self, project_id: str, reason: str) -> None:
        path = f"/api/v1/projects/{self._segment(project_id)}/park"
        self.request("POST", path, json={"reason": reason})

    def unpark_project(self, project_id: str) -> None:
        self.request("POST", f"/api/v1/projects/{self._segment(project_id)}/unpark")

    def tags(
        self,
        *,
        kind: str | None = None,
        resource_id: str | None = None,
        project_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Project tags on resources, of the projects you may see."""
        params = _filters(kind=kind, resource_id=resource_id, project_id=project_id)
        return list(self.request("GET", "/api/v1/tags", params=params))

    def _tagged(self, kind: str, resource_id: str) -> str:
        return f"/api/v1/tags/{self._segment(kind)}/{self._segment(resource_id)}"

    def tag(self, kind: str, resource_id: str, project_id: str) -> None:
        """Tag a resource (file, folder, group, vm) with a project."""
        path = f"{self._tagged(kind, resource_id)}/projects/{self._segment(project_id)}"
        self.request("PUT", path)

    def untag(self, kind: str, resource_id: str, project_id: str) -> None:
        path = f"{self._tagged(kind, resource_id)}/projects/{self._segment(project_id)}"
        self.request("DELETE", path)

    def check_access(self, kind: str, resource_id: str, action: str) -> dict[str, Any]:
        """May you `action` (view, download, release-key) the resource now? `{"allowed",
        "reason"}`; a refusal raises ApiError 403 (and is recorded)."""
        path = f"{self._tagged(kind, resource_id)}/access"
        return dict(self.request("POST", path, json={"action": action}))

    def check_placement(
        self, kind: str, resource_id: str, destination_kind: str, destination_id: str
    ) -> None:
        """Go on if the resource may be placed there; ApiError 403 naming both projects if not."""
        body = {"destination_kind": destination_kind, "destination_id": destination_id}
        self.request("POST", f"{self._tagged(kind, resource_id)}/placement", json=body)


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
