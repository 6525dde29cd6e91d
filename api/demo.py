"""The demo organisation: a small university enclave, built through the real commands.

Each capability adds its part here (people and teams, compliance and projects;
the vault, VMs, escrow and backups as they land), so `make demo` always shows
everything. Every demo key file is under $STRONGROOM_HOME/keys with the
passphrase `demo`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from api.demo_forensics import load_saved_queries
from api.world import World
from client.keys import UserKeys
from domain import clock
from domain.access import Permission, Role
from domain.application import Strongroom
from domain.certifications import certification_id
from domain.compliance_access import Action
from domain.errors import Forbidden
from domain.logins import Logins
from domain.projects import ResourceKind, Restriction
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
        ("kofi.asante", "Kofi Asante", "DAC", "Granite User", False),
        ("priya.nair", "Priya Nair", "DAC", "Granite User", False),
        ("marta.nowak", "Marta Nowak", "DAC", "Granite User", False),
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


# Kofi's certification lapses while the demo loads: the domain refuses an expiry in
# the past, so the demo lets this much time pass, and the log stays in time order.
KOFI_LASTS = timedelta(seconds=2)
# The checklist's researchers work on DAC data only inside a secure VM.
RESEARCHER = [str(Restriction.CANNOT_DOWNLOAD), str(Restriction.CANNOT_VIEW)]


def wait(delta: timedelta) -> None:
    """Let `delta` pass on the real clock (tests on a manual clock advance it instead)."""
    time.sleep(delta.total_seconds())


def load_compliance(org: World, let_time_pass: Callable[[timedelta], object] = wait) -> None:
    """The seed's "Adding A User Checklist" world, a Federal/State pair that may not
    mix, and a parked project; on first open one member is already non-compliant.

    Certifications expire relative to now: some within 30 days, and Kofi's a moment
    after it was made. The demo waits that moment out, then does what the server's
    expiry process does each second: records the expiry and the lapses it causes.
    """
    _set_up_dac(org)
    _certify_dac(org, clock.now())
    let_time_pass(KOFI_LASTS)
    _record_expiries(org)
    now = clock.now()
    _separate_federal_and_state(org, now)
    _park_the_pilot(org)
    _refused_attempts(org)


def _set_up_dac(org: World) -> None:
    """Security level HIPAA with its requirement, project DAC with sub-project DUA."""
    org.requirement(
        "DAC Compliance",
        365,
        description="The DAC data-use training and agreement, renewed every year.",
        by="it.admin",
    )
    org.level(
        "HIPAA",
        ("DAC Compliance",),
        description="Protected health information.",
        by="it.admin",
    )
    org.project(
        "DAC", "HIPAA", description="Data Access Committee: the parent project.", by="it.admin"
    )
    org.project(
        "DUA",
        "HIPAA",
        parent="DAC",
        description="Data under a data-use agreement, for DAC's members.",
        by="it.admin",
    )


def _certify_dac(org: World, now: datetime) -> None:
    """Certify ("DAC Compliance"), add to DAC, restrict researchers, add to DUA."""
    expiries = {
        "rae.researcher": now + timedelta(days=200),
        "li.wei": now + timedelta(days=9),
        "priya.nair": now + timedelta(days=24),
        "kofi.asante": now + KOFI_LASTS,
    }
    c = org.compliance
    with org.acting("dac.lead"):
        for label, expires_at in expiries.items():
            restrictions = [] if label == "priya.nair" else RESEARCHER
            c.certify(org.ids[label], org.requirements["DAC Compliance"], expires_at)
            c.add_member(org.projects["DAC"], org.ids[label], restrictions)
            c.add_member(org.projects["DUA"], org.ids[label], restrictions)
    # Priya, DAC's data steward, holds the tag permission: she marks the DUA extract.
    org.resource("dua-extract", ResourceKind.FILE, "DUA", by="priya.nair")


def _record_expiries(org: World) -> None:
    """What the server's expiry process does each second, done once before it starts."""
    with World.system_context("certification-expiry"):
        for label in ("rae.researcher", "li.wei", "priya.nair", "kofi.asante"):
            org.compliance.expire(
                certification_id(org.ids[label], org.requirements["DAC Compliance"])
            )


def _separate_federal_and_state(org: World, now: datetime) -> None:
    """The seed's federal government vs federal state data: two levels, two projects
    that never mix, one file each; Sam works on both."""
    for side, project, days in (
        ("Federal", "Federal Census", 300),
        ("State", "State Medicaid", 20),
    ):
        requirement = f"{side} Data Agreement"
        org.requirement(
            requirement, 365, description=f"The {side.lower()} data-use agreement.", by="it.admin"
        )
        org.level(side, (requirement,), description=f"{side} data.", by="it.admin")
        org.project(project, side, description=f"{side} records; never mixed.", by="it.admin")
        with org.acting("genomics.lead"):
            org.compliance.certify(
                org.ids["sam.genome"], org.requirements[requirement], now + timedelta(days=days)
            )
            org.compliance.add_member(org.projects[project], org.ids["sam.genome"])
        org.resource(f"{side.lower()}-file", ResourceKind.FILE, project, by="it.admin")


def _park_the_pilot(org: World) -> None:
    """A finished study is parked, never deleted: it keeps its data, members and history."""
    org.project("Sleep Study 2024", "HIPAA", description="Pilot study.", by="it.admin")
    with org.acting("dac.lead"):
        org.compliance.add_member(org.projects["Sleep Study 2024"], org.ids["priya.nair"])
    with org.acting("it.admin"):
        org.compliance.park(
            org.projects["Sleep Study 2024"], "grant ended; data kept for the renewal"
        )


def _refused_attempts(org: World) -> None:
    """What the composable-security decision refuses, each refusal in the trail."""
    c = org.compliance
    dua_extract = org.resources["dua-extract"][1]
    # Marta's checklist is half done: no certificate yet, so DAC does not admit her.
    with org.acting("dac.lead"), contextlib.suppress(Forbidden):
        c.add_member(org.projects["DAC"], org.ids["marta.nowak"], RESEARCHER)
    # Kofi's certification expired: DAC's data is closed to him until he renews it.
    with org.acting("kofi.asante"), contextlib.suppress(Forbidden):
        c.authorise_data(ResourceKind.FILE, dua_extract, Action.VIEW_DATA)
    # Li Wei is compliant, but a researcher: no download, whatever the profile allows.
    with org.acting("li.wei"), contextlib.suppress(Forbidden):
        c.authorise_data(ResourceKind.FILE, dua_extract, Action.DOWNLOAD_DATA)
    # Sam may see both sides, never put federal data with the state's.
    with org.acting("sam.genome"), contextlib.suppress(Forbidden):
        c.tag(ResourceKind.FILE, org.resources["federal-file"][1], org.projects["State Medicaid"])


def _quota(*, storage_tib: int, vms: int, cores: int) -> Quota:
    return Quota(storage_bytes=storage_tib * 2**40, vm_count=vms, cpu_cores=cores)


def load_demo(
    app: Strongroom, home: Path, *, let_time_pass: Callable[[timedelta], object] = wait
) -> World:
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
    load_compliance(org, let_time_pass)
    load_saved_queries(org)
    return org
