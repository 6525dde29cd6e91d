"""People and teams built through the real commands: the demo organisation, tests, benchmarks.

Everything goes through the capabilities' use cases, acting as someone, exactly
as requests would: registration as an anonymous visitor, administration as an
administrator, login by signing a challenge with the person's own keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path
from uuid import UUID, uuid4

from client.keys import UserKeys
from client.session_file import default_key_file
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.compliance import Compliance
from domain.envelope import AuditContext, acting_as
from domain.identity import Identity, Registration
from domain.logins import Logins, Principal
from domain.projects import ResourceKind

WORLD_IP = "192.0.2.10"


def visitor(client_ip: str | None = None) -> AuditContext:
    """Someone without an account yet, as over the API (registration, login)."""
    return AuditContext("anonymous", "anonymous", None, uuid4().hex, client_ip)


VISITOR = AuditContext("anonymous", "anonymous", None, "r", None)


class World:
    """People and teams (and the compliance vocabulary and projects), each name unique
    to this world unless `tag` is empty.

    Each world starts from a super-admin labelled `root`: a new one, or an
    existing account (`root_email`, as the demo adopts the one `init` made).
    With `key_home`, every person's keys are saved there under `passphrase`.
    """

    def __init__(
        self,
        app: Strongroom,
        *,
        tag: str | None = None,
        domain: str = "example.edu",
        root_email: str | None = None,
        key_home: Path | None = None,
        passphrase: str = "",
        client_ip: str = WORLD_IP,
    ) -> None:
        self.app = app
        self.identity = Identity(app)
        self.logins = Logins(app)
        self.compliance = Compliance(app)
        self.tag = uuid4().hex[:8] if tag is None else tag
        self.domain = domain
        self.key_home = key_home
        self.passphrase = passphrase
        self.client_ip = client_ip
        self.ids: dict[str, UUID] = {}
        self.keys: dict[str, UserKeys] = {}
        self.teams: dict[str, UUID] = {}
        self.requirements: dict[str, UUID] = {}
        self.levels: dict[str, UUID] = {}
        self.projects: dict[str, UUID] = {}
        self.resources: dict[str, tuple[ResourceKind, UUID]] = {}
        if root_email is not None:
            self.ids["root"] = self.identity.user_by_email(root_email).id
        else:
            keys = self._keys_for(self.email("root"))
            with acting_as(AuditContext.system("bootstrap")):
                signed = keys.registration(self.email("root"), "Root")
                self.ids["root"] = self.identity.bootstrap_super_admin(Registration(**signed))
            self.keys["root"] = keys

    def email(self, label: str) -> str:
        if "@" in label:
            return label
        return f"{label}.{self.tag}@{self.domain}" if self.tag else f"{label}@{self.domain}"

    def _keys_for(self, email: str) -> UserKeys:
        keys = UserKeys.generate()
        if self.key_home is not None:
            keys.save(default_key_file(self.key_home, email), self.passphrase)
        return keys

    @staticmethod
    @contextmanager
    def system_context(rule: str) -> Iterator[AuditContext]:
        """Act as the system because `rule` fired."""
        with acting_as(AuditContext.system(rule)) as context:
            yield context

    @contextmanager
    def acting(self, label: str) -> Iterator[AuditContext]:
        user = self.identity.user(self.ids[label])
        context = AuditContext(
            actor_id=str(user.id),
            actor_role=str(user.role),
            session_id=f"s-{label}",
            request_id=uuid4().hex,
            client_ip=self.client_ip,
        )
        with acting_as(context):
            yield context

    def team(self, label: str, *, by: str = "root") -> UUID:
        if label not in self.teams:
            with self.acting(by):
                self.teams[label] = self.identity.create_team(self.named(label))
        return self.teams[label]

    def named(self, label: str) -> str:
        """The name a team, requirement, level or project labelled `label` has here."""
        return f"{label} {self.tag}" if self.tag else label

    def requirement(
        self,
        label: str,
        lifespan_days: int | None = 365,
        *,
        description: str = "",
        by: str = "root",
    ) -> UUID:
        if label not in self.requirements:
            with self.acting(by):
                self.requirements[label] = self.compliance.create_requirement(
                    self.named(label), description, lifespan_days
                )
        return self.requirements[label]

    def level(
        self,
        label: str,
        requirements: tuple[str, ...] = (),
        *,
        description: str = "",
        by: str = "root",
    ) -> UUID:
        """A security level holding the requirements labelled `requirements` (made if new)."""
        if label not in self.levels:
            ids = [self.requirement(r, by=by) for r in requirements]
            with self.acting(by):
                self.levels[label] = self.compliance.create_level(
                    self.named(label), description, ids
                )
        return self.levels[label]

    def project(
        self,
        label: str,
        level: str,
        *,
        parent: str | None = None,
        allows_mixing: bool = False,
        description: str = "",
        by: str = "root",
    ) -> UUID:
        """A project at the security level labelled `level` (which must exist here)."""
        if label not in self.projects:
            with self.acting(by):
                self.projects[label] = self.compliance.create_project(
                    self.named(label),
                    self.levels[level],
                    description=description,
                    parent_id=None if parent is None else self.projects[parent],
                    allows_mixing=allows_mixing,
                )
        return self.projects[label]

    def resource(self, label: str, kind: ResourceKind, project: str, *, by: str = "root") -> UUID:
        """A resource (new ids for new labels: the vault's own do not exist yet), tagged
        with the project labelled `project` by `by`."""
        kind, resource_id = self.resources.setdefault(label, (kind, uuid4()))
        with self.acting(by):
            self.compliance.tag(kind, resource_id, self.projects[project])
        return resource_id

    def register(self, label: str, name: str | None = None) -> UUID:
        """A new, deactivated account, registered by its owner."""
        email = self.email(label)
        keys = self._keys_for(email)
        with acting_as(visitor()):
            user_id = self.identity.register_user(
                Registration(**keys.registration(email, name or label.split("@")[0].title()))
            )
        self.ids[label], self.keys[label] = user_id, keys
        return user_id

    def person(
        self,
        label: str,
        role: Role = Role.USER,
        *,
        name: str | None = None,
        active: bool = True,
        teams: tuple[str, ...] = (),
        sub_admin_of: tuple[str, ...] = (),
        audit: bool = False,
        by: str = "root",
    ) -> UUID:
        """Someone registered, then set up by `by` (the root super-admin by default).

        With `audit`, a compliance officer: `by` grants them the audit capability.
        """
        user_id = self.register(label, name)
        with self.acting(by):
            if role is not Role.USER:
                self.identity.change_role(user_id, role)
            if active:
                self.identity.activate_user(user_id)
            for team in teams:
                self.identity.add_team_member(self.team(team), user_id)
            for team in sub_admin_of:
                self.identity.assign_sub_admin(self.team(team), user_id)
            if audit:
                self.identity.set_permissions(user_id, grant={Permission.AUDIT}, restrict=set())
        return user_id

    def login(
        self,
        label: str,
        *,
        client_ip: str | None = None,
        keys: UserKeys | None = None,
        email: str | None = None,
        nonce: bytes | None = None,
        token_hash: str | None = None,
    ) -> Principal:
        """Sign a challenge with the person's keys (or `keys`), as a client would.

        A fresh challenge is issued unless `nonce` names one already issued (a replay).
        """
        email = email or self.email(label)
        with acting_as(visitor(client_ip or self.client_ip)):
            if nonce is None:
                nonce = secrets.token_bytes(32)
                self.logins.issue_challenge(email, nonce)
            return self.logins.login(
                email=email,
                nonce=nonce,
                signature=(keys or self.keys[label]).login_signature(nonce, email),
                token_hash=token_hash or sha256(nonce).hexdigest(),
            )
