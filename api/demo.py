"""The demo organisation: a small university enclave, built through the real commands.

Each capability adds its part here (people and teams now; projects, vault, VMs,
escrow and backups as they land), so `make demo` always shows everything.
Every demo key file is under $STRONGROOM_HOME/keys with the passphrase `demo`.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

from client.keys import UserKeys
from client.session_file import default_key_file
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.denials import Forbidden
from domain.envelope import AuditContext, acting_as
from domain.identity import Registration
from domain.sessions import AuthenticationFailed
from domain.teams import Quota

DEMO_PASSPHRASE = "demo"
ADMIN_EMAIL = "admin@enclave.example.edu"
VISITOR = AuditContext("anonymous", "anonymous", None, "demo-load", "127.0.0.1")


@dataclass
class DemoOrg:
    app: Strongroom
    home: Path
    ids: dict[str, UUID] = field(default_factory=dict)
    teams: dict[str, UUID] = field(default_factory=dict)

    def acting(self, email: str) -> AuditContext:
        user = self.app.user(self.ids[email])
        return AuditContext(str(user.id), str(user.role), f"demo-{email}", uuid4().hex, "10.20.0.5")

    def person(self, email: str, name: str) -> UUID:
        keys = UserKeys.generate()
        keys.save(default_key_file(self.home, email), DEMO_PASSPHRASE)
        with acting_as(VISITOR):
            self.ids[email] = self.app.register_user(Registration(**keys.registration(email, name)))
        return self.ids[email]


def load_people(org: DemoOrg) -> None:
    """Teams, profiles, administrators and researchers, as the seed's checklist sets them up."""
    app = org.app
    org.ids[ADMIN_EMAIL] = app.user_by_email(ADMIN_EMAIL).id
    with acting_as(org.acting(ADMIN_EMAIL)):
        for team in ("DAC", "Genomics Core", "Radiology AI"):
            org.teams[team] = app.create_team(team)
        app.create_profile(
            "Granite User", {Permission.VIEW, Permission.DOWNLOAD, Permission.TAG_PROJECTS}
        )
        app.create_profile(
            "Basalt Analyst", {Permission.VIEW, Permission.TAG_PROJECTS, Permission.CREATE_VMS}
        )
        app.set_team_quota(org.teams["Genomics Core"], _quota(storage_tib=2, vms=6, cores=48))

    # Administrators: an admin, a compliance officer, and a sub-admin per team.
    staff: list[tuple[str, str, Role, str | None]] = [
        ("it.admin@enclave.example.edu", "Irene Tan", Role.ADMIN, None),
        ("officer@enclave.example.edu", "Oscar Compliance", Role.USER, "DAC"),
        ("dac.lead@enclave.example.edu", "Dana Lead", Role.SUB_ADMIN, "DAC"),
        ("genomics.lead@enclave.example.edu", "Gene Ramos", Role.SUB_ADMIN, "Genomics Core"),
    ]
    for email, name, role, staff_team in staff:
        user_id = org.person(email, name)
        with acting_as(org.acting(ADMIN_EMAIL)):
            app.activate_user(user_id)
            if role is not Role.USER:
                app.change_role(user_id, role)
            if role is Role.SUB_ADMIN and staff_team:
                app.assign_sub_admin(org.teams[staff_team], user_id)
            elif staff_team:
                app.add_team_member(org.teams[staff_team], user_id)
    with acting_as(org.acting(ADMIN_EMAIL)):
        app.set_permissions(
            org.ids["officer@enclave.example.edu"], grant={Permission.AUDIT}, restrict=set()
        )

    # Researchers, onboarded by their team's sub-admin as the checklist says.
    researchers = [
        ("rae.researcher@enclave.example.edu", "Rae Okafor", "DAC", "Granite User", True),
        ("li.wei@enclave.example.edu", "Li Wei", "DAC", "Granite User", False),
        ("sam.genome@enclave.example.edu", "Sam Patel", "Genomics Core", "Basalt Analyst", False),
        ("ana.seq@enclave.example.edu", "Ana Souza", "Genomics Core", "Granite User", True),
    ]
    for email, name, team, profile, restricted in researchers:
        user_id = org.person(email, name)
        lead = "dac.lead" if team == "DAC" else "genomics.lead"
        with acting_as(org.acting(f"{lead}@enclave.example.edu")):
            app.add_team_member(org.teams[team], user_id)
            app.activate_user(user_id)
            app.apply_profile(user_id, profile)
            if restricted:
                app.set_permissions(
                    user_id, grant=set(), restrict={Permission.DOWNLOAD, Permission.VIEW}
                )

    # Someone registered and waiting; someone locked out; a refused attempt.
    org.person("new.student@enclave.example.edu", "Noor Student")
    locked = org.person("mallory@enclave.example.edu", "Mallory Guess")
    with acting_as(org.acting(ADMIN_EMAIL)):
        app.activate_user(locked)
        app.add_team_member(org.teams["Radiology AI"], locked)
    impostor = UserKeys.generate()
    for _ in range(app.max_failures):
        nonce = secrets.token_bytes(32)
        with acting_as(VISITOR):
            app.issue_challenge("mallory@enclave.example.edu", nonce)
            with contextlib.suppress(AuthenticationFailed):
                app.login(
                    email="mallory@enclave.example.edu",
                    nonce=nonce,
                    signature=impostor.login_signature(nonce, "x"),
                    token_hash="x",
                )
    with acting_as(org.acting("dac.lead@enclave.example.edu")), contextlib.suppress(Forbidden):
        app.change_role(org.ids["rae.researcher@enclave.example.edu"], Role.ADMIN)


def _quota(*, storage_tib: int, vms: int, cores: int) -> Quota:
    return Quota(storage_bytes=storage_tib * 2**40, vm_count=vms, cpu_cores=cores)


def load_demo(app: Strongroom, home: Path) -> DemoOrg:
    """Everything the demo shows, in order of the capabilities that add to it."""
    org = DemoOrg(app, home)
    load_people(org)
    return org
