"""The seed's "Adding A User Checklist", told as one story over HTTP with the client SDK.

The server runs on an injected clock, so the story can go on to the day the
researcher's certification expires: access works the second before and is
refused, and recorded, the second after. (The checklist's VM steps arrive with
the VM issue and will be added to this story there.)
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.local_server import live_server
from audit_queries.verify import verify_store
from client.api import ApiError, StrongroomClient
from client.keys import UserKeys
from domain.envelope import AuditContext, acting_as
from domain.identity import Identity, Registration
from tests.stores import stored_bytes


def test_adding_a_researcher(settings: Settings, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    # The installation has its first super-admin (what `strongroom init` does).
    root_keys = UserKeys.generate()
    app = open_system(settings, clock=clock).app
    with acting_as(AuditContext.system("bootstrap")):
        Identity(app).bootstrap_super_admin(
            Registration(**root_keys.registration("root@enclave.edu", "Root"))
        )
    app.close()
    everyone = [root_keys]

    with live_server(settings, clock=clock) as url:
        root = StrongroomClient(url)
        root.login(root_keys, "root@enclave.edu")

        # The organisation: the DAC team, the "Granite User" profile, and Sam,
        # the team's sub-admin.
        dac = root.create_team("DAC")
        root.create_profile("Granite User", ["view", "download", "tag-projects"])
        sam_keys = UserKeys.generate()
        everyone.append(sam_keys)
        sam_id = StrongroomClient(url).register(sam_keys, "sam@enclave.edu", "Sam Sub")
        root.activate(sam_id)
        root.set_role(sam_id, "sub-admin")
        root.assign_sub_admin(dac, sam_id)
        # Compliance: security level HIPAA with the requirement "DAC Compliance"
        # (a yearly certification), the parent project DAC and its sub-project DUA.
        training = root.create_requirement(
            "DAC Compliance", description="the DAC data-use training", lifespan_days=365
        )
        hipaa = root.create_security_level("HIPAA", requirement_ids=[training])
        dac_project = root.create_project("DAC", hipaa)
        dua_project = root.create_project("DUA", hipaa, parent_id=dac_project)
        # A file of each project (the vault tags them; here, by their ids).
        dac_file, dua_file = str(uuid4()), str(uuid4())
        root.tag("file", dac_file, dac_project)
        root.tag("file", dua_file, dua_project)

        # 1. The user registers an account: keys made and kept on her machine.
        rae_keys = UserKeys.generate()
        everyone.append(rae_keys)
        key_file = tmp_path / "rae.key"
        rae_keys.save(key_file, "correct horse battery staple")
        rae = StrongroomClient(url)
        rae_id = rae.register(
            UserKeys.load(key_file, "correct horse battery staple"),
            "rae@enclave.edu",
            "Rae Researcher",
        )
        # A new account is deactivated until an administrator activates it.
        with pytest.raises(ApiError) as refused:
            rae.login(rae_keys, "rae@enclave.edu")
        assert refused.value.status == 401

        # 2. The sub-admin logs on and updates the user's settings.
        sam = StrongroomClient(url)
        sam.login(sam_keys, "sam@enclave.edu")
        # Before onboarding, Sam sees Rae only as a deactivated user with no team.
        assert rae_id in {u["id"] for u in sam.users()}
        # 3. Add the user to the team "DAC" (allowed: deactivated, no team).
        sam.add_member(dac, rae_id)
        # 4. Role and permissions: active, profile "Granite User".
        sam.activate(rae_id)
        sam.apply_profile(rae_id, "Granite User")
        # A sub-admin changes permissions, not roles: refused, and recorded.
        with pytest.raises(ApiError) as refused:
            sam.set_role(rae_id, "sub-admin")
        assert refused.value.status == 403
        # 5. Add the project "DAC": refused until she holds "DAC Compliance".
        with pytest.raises(ApiError) as refused:
            sam.add_project_member(dac_project, rae_id)
        assert refused.value.status == 403
        assert "DAC Compliance not certified" in str(refused.value.detail)
        # Add Security Certificate "DAC Compliance" (it lasts at most 365 days).
        with pytest.raises(ApiError) as refused:
            sam.certify(rae_id, training, (clock.now() + timedelta(days=400)).isoformat())
        assert refused.value.status == 422
        assert "expires_at" in str(refused.value.detail)
        expires = clock.now() + timedelta(days=30)
        sam.certify(rae_id, training, expires.isoformat())
        sam.add_project_member(dac_project, rae_id)
        # A researcher: "Cannot download" and "Cannot view" in the sub-project DUA.
        sam.add_project_member(dua_project, rae_id, ["cannot-download", "cannot-view"])

        # Rae logs in and sees her account as configured.
        rae.login(rae_keys, "rae@enclave.edu")
        me = rae.me()
        assert me["teams"] == [dac]
        assert me["profile"] == "Granite User"
        assert set(me["permissions"]) == {"download", "tag-projects", "view"}
        # ...and sees no one else.
        assert [u["id"] for u in rae.users()] == [rae_id]
        # She may view DAC's file, and neither view nor download DUA's.
        assert rae.check_access("file", dac_file, "view")["allowed"] is True
        for action in ("view", "download"):
            with pytest.raises(ApiError) as refused:
                rae.check_access("file", dua_file, action)
            assert refused.value.status == 403
            assert f"cannot-{action}" in str(refused.value.detail)
        rae.logout()
        with pytest.raises(ApiError) as refused:
            rae.me()
        assert refused.value.status == 401

        # Thirty days on: the second before the expiry, access works...
        clock.advance(expires - clock.now() - timedelta(seconds=1))
        rae.login(rae_keys, "rae@enclave.edu")
        assert rae.check_access("file", dac_file, "view")["allowed"] is True
        # ...and the second after, it is refused, with the reason.
        clock.advance(timedelta(seconds=1))
        with pytest.raises(ApiError) as refused:
            rae.check_access("file", dac_file, "view")
        assert refused.value.status == 403
        assert "HIPAA: DAC Compliance expired 2026-10-31" in str(refused.value.detail)
        # The server's expiry process records it; the project shows her non-compliant.
        root.login(root_keys, "root@enclave.edu")  # a month on, a new session
        deadline = time.monotonic() + 30
        while not (lapsed := root.non_compliant_members()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {(m["project"], m["email"], m["reason"]) for m in lapsed} == {
            ("DAC", "rae@enclave.edu", "HIPAA: DAC Compliance expired 2026-10-31"),
            ("DUA", "rae@enclave.edu", "HIPAA: DAC Compliance expired 2026-10-31"),
        }
        # Her memberships, and their history, are intact.
        assert rae_id in {m["user_id"] for m in root.project(dac_project)["members"]}

    # The audit trail is intact and tells the story, refusal included.
    report = verify_store(settings)
    assert report.problem is None
    app = open_system(settings).app
    try:
        events = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        ]
    finally:
        app.close()
    by_sam = [type(e).__qualname__ for e in events if e.actor_id == sam_id]
    assert "Team.MemberAdded" in by_sam
    assert "User.Activated" in by_sam
    assert "DeniedAttempt.Recorded" in by_sam
    denial = next(
        e
        for e in events
        if type(e).__qualname__ == "DeniedAttempt.Recorded" and e.actor_id == sam_id
    )
    assert (denial.action, denial.target) == ("change-role", rae_id)
    assert "permissions, not roles" in denial.reason
    refused_admission = next(
        e
        for e in events
        if type(e).__qualname__ == "DeniedAttempt.Recorded" and e.action == "add-project-member"
    )
    assert refused_admission.actor_id == sam_id
    assert "DAC Compliance not certified" in refused_admission.reason
    expired = [e for e in events if type(e).__qualname__ == "Certification.Expired"]
    assert [e.actor_id for e in expired] == ["system:certification-expiry"]
    assert expired[0].expired_at == expires
    refused_view = [
        e
        for e in events
        if type(e).__qualname__ == "DeniedAttempt.Recorded" and e.actor_id == rae_id
    ]
    assert [e.action for e in refused_view] == [
        "view-project-data",
        "download-project-data",
        "view-project-data",
    ]

    # Zero trust: no private key, in any encoding, ever reached the server.
    stored = stored_bytes(settings)
    for keys in everyone:
        for secret in keys.private_bytes_for_audit():
            for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
                assert form not in stored
    # (The public keys are there, so the search does look in the right place.)
    assert rae_keys.signing_public_key.encode() in stored
