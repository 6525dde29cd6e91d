"""`strongroom demo`: fails fast on a busy port, its login hint works in a new shell, and
the organisation it loads holds the seed's compliance checklist world."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.demo import ADMIN_EMAIL, DOMAIN, load_demo
from api.local_server import free_port, wait_until_healthy
from client.keys import UserKeys
from domain.compliance_access import Action
from domain.envelope import AuditContext, acting_as
from domain.errors import Forbidden
from domain.identity import Identity, Registration
from domain.projects import ResourceKind
from tests.api.cli_runner import STRONGROOM, env_for, lines_until, read_lines, strongroom


def test_a_busy_port_stops_the_demo_before_it_builds_anything(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        refused = strongroom("demo", "--port", str(port), env={**env, "STRONGROOM_HOME": str(home)})

    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: 127.0.0.1:{port} is already in use: stop what listens there, or pass --port"
    ]
    assert not (home / "strongroom.db").exists()
    assert not (home / "keys").exists()


def test_the_login_hint_works_pasted_into_a_new_shell(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings)
    del env["STRONGROOM_PASSPHRASE"]  # the demo brings its own
    port = free_port()
    demo = subprocess.Popen(
        [STRONGROOM, "demo", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", lambda: demo.poll() is None, timeout=300)
        assert demo.stdout is not None
        printed = read_lines(demo.stdout)
        seen: list[str] = []
        lines_until(printed, "Log in from another shell", seen, time.monotonic() + 60)
        assert "'demo'" in seen[-1]
        hint = [printed.get(timeout=60).strip() for _ in range(2)]
        assert hint[0].startswith("export STRONGROOM_HOME=")

        # A new shell: somewhere else, none of our variables, no venv on PATH. The
        # passphrase variable stands in for typing `demo` at the prompt.
        fresh = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        fresh.update(PATH="/usr/bin:/bin", STRONGROOM_PASSPHRASE="demo")
        command = hint[1].split(" login ")[0]
        shell = subprocess.run(
            ["bash", "-euc", "\n".join([*hint, f"{command} user me --json"])],
            env=fresh,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            start_new_session=True,
        )
        assert shell.returncode == 0, shell.stderr
        logged_in, me = shell.stdout.split("\n", 1)
        assert logged_in.startswith("Logged in as admin@enclave.example.edu (super-admin)")
        assert json.loads(me)["email"] == "admin@enclave.example.edu"
    finally:
        demo.terminate()
        demo.wait(timeout=60)


def test_the_demo_opens_with_the_checklist_world_and_a_non_compliant_member(
    settings: Settings, clock: ManualClock
) -> None:
    app = open_system(settings, clock=clock).app
    try:
        with acting_as(AuditContext.system("bootstrap")):
            Identity(app).bootstrap_super_admin(
                Registration(**UserKeys.generate().registration(ADMIN_EMAIL, "Ada Admin"))
            )
        org = load_demo(app, settings.home, let_time_pass=clock.advance)
        c, now, ids = org.compliance, clock.now(), org.ids
        requirement = org.requirements["DAC Compliance"]

        # Security level HIPAA holds "DAC Compliance"; DUA is a sub-project of DAC.
        assert c.requirement(requirement).name == "DAC Compliance"
        assert c.level(org.levels["HIPAA"]).requirement_ids == [requirement]
        dac, dua = c.project(org.projects["DAC"]), c.project(org.projects["DUA"])
        assert (dac.parent_id, dua.parent_id) == (None, dac.id)
        assert dac.security_level_id == dua.security_level_id == org.levels["HIPAA"]

        # Researchers are in both, restricted; the data steward is not; Marta is not yet in.
        researcher = {"cannot-download", "cannot-view"}
        for project in (dac, dua):
            for label in ("rae.researcher", "li.wei", "kofi.asante"):
                restrictions = {str(r) for r in project.restrictions_of(ids[label])}
                assert restrictions == researcher, label
            assert project.is_member(ids["priya.nair"])
            assert not project.restrictions_of(ids["priya.nair"])
            assert not project.is_member(ids["marta.nowak"])

        # Relative to now: two expire within 30 days, one does not, one has expired.
        def expiry(label: str) -> timedelta:
            held = c.certification(ids[label], requirement)
            assert held is not None and held.expires_at is not None
            return held.expires_at - now

        assert timedelta(0) < expiry("li.wei") <= timedelta(days=30)
        assert timedelta(0) < expiry("priya.nair") <= timedelta(days=30)
        assert expiry("rae.researcher") > timedelta(days=30)
        assert expiry("kofi.asante") <= timedelta(0)

        # The expiry was recorded by the expiry process, with Kofi's lapse in both projects.
        recorded: list[Any] = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
        ]
        (expired,) = [e for e in recorded if type(e).__qualname__ == "Certification.Expired"]
        assert expired.actor_id == "system:certification-expiry"
        kofi = c.certification(ids["kofi.asante"], requirement)
        assert kofi is not None and expired.originator_id == kofi.id
        lapses = [e for e in recorded if type(e).__qualname__ == "Project.MemberLapsed"]
        assert {e.originator_id for e in lapses} == {dac.id, dua.id}
        assert all(e.actor_id == "system:certification-expiry" for e in lapses)
        for project in (dac, dua):
            assert list(project.lapsed) == [str(ids["kofi.asante"])]
            assert "HIPAA: DAC Compliance expired" in project.lapsed[str(ids["kofi.asante"])]
        # Kofi's certification lapsed while the demo loaded; its expiry was recorded after.
        (kofi_certified,) = [
            e
            for e in recorded
            if type(e).__qualname__ == "Certification.Certified"
            and e.originator_id == expired.originator_id
        ]
        assert kofi_certified.timestamp < kofi_certified.expires_at <= now == expired.timestamp

        # Refusals on first open, each recorded with who, what and why.
        refused = {
            (str(e.actor_id), e.action, e.reason)
            for e in recorded
            if type(e).__qualname__ == "DeniedAttempt.Recorded"
        }
        marta = f"marta.nowak@{DOMAIN} cannot join DAC: HIPAA: DAC Compliance not certified"
        assert (str(ids["dac.lead"]), "add-project-member", marta) in refused
        assert any(
            actor == str(ids["kofi.asante"])
            and action == "view-project-data"
            and reason.startswith("non-compliant in project DUA: HIPAA: DAC Compliance expired")
            for actor, action, reason in refused
        )
        assert (
            str(ids["li.wei"]),
            "download-project-data",
            "restricted in project DUA: cannot-download",
        ) in refused
        assert (
            str(ids["sam.genome"]),
            "tag-with-project",
            "data of projects that may not mix: Federal Census and State Medicaid "
            "(Federal Census forbids mixing)",
        ) in refused

        # The decision is live: Kofi is refused now, and Priya (compliant) is not.
        extract = org.resources["dua-extract"][1]
        with org.acting("kofi.asante"), pytest.raises(Forbidden):
            c.authorise_data(ResourceKind.FILE, extract, Action.VIEW_DATA)
        with org.acting("priya.nair"):
            assert "compliant member" in c.authorise_data(
                ResourceKind.FILE, extract, Action.DOWNLOAD_DATA
            )

        # Federal and State: one file each, never mixed, and Sam a member of both.
        for side, name in (("federal", "Federal Census"), ("state", "State Medicaid")):
            kind, file_id = org.resources[f"{side}-file"]
            assert c.tags_of(kind, file_id) == {org.projects[name]}
            assert c.project(org.projects[name]).is_member(ids["sam.genome"])
            assert not c.project(org.projects[name]).allows_mixing

        # A finished study is parked, not deleted: its member is still there.
        pilot = c.project(org.projects["Sleep Study 2024"])
        assert pilot.parked and pilot.is_member(ids["priya.nair"])
    finally:
        app.close()
