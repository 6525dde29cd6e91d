"""A small organisation for identity tests, built through the real commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

from client.keys import UserKeys
from domain.access import Role
from domain.application import Strongroom
from domain.envelope import AuditContext, acting_as
from domain.identity import Registration

# Registration comes from someone without an account yet, as over the API.
VISITOR = AuditContext(
    actor_id="anonymous", actor_role="anonymous", session_id=None, request_id="r", client_ip=None
)


class World:
    """People and teams, each name unique to this world so worlds can share a store."""

    def __init__(self, app: Strongroom) -> None:
        self.app = app
        self.tag = uuid4().hex[:8]
        self.ids: dict[str, UUID] = {}
        self.keys: dict[str, UserKeys] = {}
        self.teams: dict[str, UUID] = {}
        keys = UserKeys.generate()
        with acting_as(AuditContext.system("bootstrap")):
            signed = keys.registration(self.email("root"), "Root")
            self.ids["root"] = app.bootstrap_super_admin(Registration(**signed))
        self.keys["root"] = keys

    def email(self, label: str) -> str:
        return f"{label}.{self.tag}@example.edu"

    @contextmanager
    def acting(self, label: str) -> Iterator[AuditContext]:
        user = self.app.user(self.ids[label])
        context = AuditContext(
            actor_id=str(user.id),
            actor_role=str(user.role),
            session_id=f"s-{label}",
            request_id=uuid4().hex,
            client_ip="192.0.2.10",
        )
        with acting_as(context):
            yield context

    def team(self, label: str) -> UUID:
        if label not in self.teams:
            with self.acting("root"):
                self.teams[label] = self.app.create_team(f"{label} {self.tag}")
        return self.teams[label]

    def person(
        self,
        label: str,
        role: Role = Role.USER,
        *,
        active: bool = True,
        teams: tuple[str, ...] = (),
        sub_admin_of: tuple[str, ...] = (),
    ) -> UUID:
        keys = UserKeys.generate()
        with acting_as(VISITOR):
            user_id = self.app.register_user(
                Registration(**keys.registration(self.email(label), label.title()))
            )
        self.ids[label], self.keys[label] = user_id, keys
        with self.acting("root"):
            if role is not Role.USER:
                self.app.change_role(user_id, role)
            if active:
                self.app.activate_user(user_id)
            for team in teams:
                self.app.add_team_member(self.team(team), user_id)
            for team in sub_admin_of:
                self.app.assign_sub_admin(self.team(team), user_id)
        return user_id
