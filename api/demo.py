"""The demo organisation: a small university enclave, built through the real commands.

Each capability adds its part here (people and teams now; projects, vault, VMs,
escrow and backups as they land), so `make demo` always shows everything.
Every demo key file is under $STRONGROOM_HOME/keys with the passphrase `demo`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from api.demo_forensics import load_saved_queries
from api.world import World
from client.keys import UserKeys
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.errors import Forbidden
from domain.logins import Logins
from domain.sessions import AuthenticationFailed
from domain.teams import Quota

DEMO_PASSPHRASE = "demo"
DOMAIN = "enclave.example.edu"
ADMIN_EMAIL = f"admin@{DOMAIN}"


def load_people(org: World) -> None:
    """Teams, profiles, administrators and researchers, as the seed's checklist sets them up."""
    identity = org.identity
    with org.acting("root"):
        for team in ("DAC", "Genomics Core", "Radiology AI"):
            org.team(team)
        identity.create_profile(
            "Granite User", {Permission.VIEW, Permission.DOWNLOAD, Permission.TAG_PROJECTS}
        )
        identity.create_profile(
            "Basalt Analyst", {Permission.VIEW, Permission.TAG_PROJECTS, Permission.CREATE_VMS}
        )
        identity.set_team_quota(org.teams["Genomics Core"], _quota(storage_tib=2, vms=6, cores=48))

    # Administrators: an admin, a compliance officer, and a sub-admin per team.
    org.person("it.admin", Role.ADMIN, name="Irene Tan")
    org.person("officer", name="Oscar Compliance", teams=("DAC",))
    org.person("dac.lead", Role.SUB_ADMIN, name="Dana Lead", sub_admin_of=("DAC",))
    org.person("genomics.lead", Role.SUB_ADMIN, name="Gene Ramos", sub_admin_of=("Genomics Core",))
    with org.acting("root"):
        identity.set_permissions(org.ids["officer"], grant={Permission.AUDIT}, restrict=set())

    # Researchers, onboarded by their team's sub-admin as the checklist says.
    researchers = [
        ("rae.researcher", "Rae Okafor", "DAC", "Granite User", True),
        ("li.wei", "Li Wei", "DAC", "Granite User", False),
        ("sam.genome", "Sam Patel", "Genomics Core", "Basalt Analyst", False),
        ("ana.seq", "Ana Souza", "Genomics Core", "Granite User", True),
    ]
    for label, name, team, profile, restricted in researchers:
        user_id = org.register(label, name)
        with org.acting("dac.lead" if team == "DAC" else "genomics.lead"):
            identity.add_team_member(org.teams[team], user_id)
            identity.activate_user(user_id)
            identity.apply_profile(user_id, profile)
            if restricted:
                identity.set_permissions(
                    user_id, grant=set(), restrict={Permission.DOWNLOAD, Permission.VIEW}
                )

    # Someone registered and waiting; someone locked out; a refused attempt.
    org.register("new.student", "Noor Student")
    org.person("mallory", name="Mallory Guess", teams=("Radiology AI",))
    impostor = UserKeys.generate()
    for _ in range(Logins.max_failures):
        with contextlib.suppress(AuthenticationFailed):
            org.login("mallory", keys=impostor, client_ip="198.51.100.23")
    with org.acting("dac.lead"), contextlib.suppress(Forbidden):
        identity.change_role(org.ids["rae.researcher"], Role.ADMIN)


def _quota(*, storage_tib: int, vms: int, cores: int) -> Quota:
    return Quota(storage_bytes=storage_tib * 2**40, vm_count=vms, cpu_cores=cores)


def load_demo(app: Strongroom, home: Path) -> World:
    """Everything the demo shows, in order of the capabilities that add to it."""
    org = World(
        app,
        tag="",
        domain=DOMAIN,
        root_email=ADMIN_EMAIL,
        key_home=home,
        passphrase=DEMO_PASSPHRASE,
        client_ip="10.20.0.5",
    )
    load_people(org)
    load_saved_queries(org)
    return org
