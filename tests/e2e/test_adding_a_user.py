"""The seed's "Adding A User Checklist", told as one story over HTTP with the client SDK.

(The checklist's project, certificate and VM steps arrive with the compliance and
VM issues and will be added to this story there.)
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.local_server import live_server
from audit_queries.verify import verify_store
from client.api import ApiError, StrongroomClient
from client.keys import UserKeys
from domain.envelope import AuditContext, acting_as
from domain.identity import Identity, Registration
from tests.stores import stored_bytes


def test_adding_a_researcher(settings: Settings, tmp_path: Path) -> None:
    # The installation has its first super-admin (what `strongroom init` does).
    root_keys = UserKeys.generate()
    app = open_system(settings).app
    with acting_as(AuditContext.system("bootstrap")):
        Identity(app).bootstrap_super_admin(
            Registration(**root_keys.registration("root@enclave.edu", "Root"))
        )
    app.close()
    everyone = [root_keys]

    with live_server(settings) as url:
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
        # A researcher: "Cannot download" and "Cannot view".
        sam.set_permissions(rae_id, restrict=["download", "view"])
        # A sub-admin changes permissions, not roles: refused, and recorded.
        with pytest.raises(ApiError) as refused:
            sam.set_role(rae_id, "sub-admin")
        assert refused.value.status == 403

        # Rae logs in and sees her account as configured.
        rae.login(rae_keys, "rae@enclave.edu")
        me = rae.me()
        assert me["teams"] == [dac]
        assert me["profile"] == "Granite User"
        assert me["permissions"] == ["tag-projects"]
        assert set(me["restricted"]) == {"download", "view"}
        # ...and sees no one else.
        assert [u["id"] for u in rae.users()] == [rae_id]
        rae.logout()
        with pytest.raises(ApiError) as refused:
            rae.me()
        assert refused.value.status == 401

    # The audit trail is intact and tells the story, refusal included.
    report = verify_store(settings)
    assert report.problem is None
    app = open_system(settings).app
    try:
        events = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=1000)
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

    # Zero trust: no private key, in any encoding, ever reached the server.
    stored = stored_bytes(settings)
    for keys in everyone:
        for secret in keys.private_bytes_for_audit():
            for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
                assert form not in stored
    # (The public keys are there, so the search does look in the right place.)
    assert rae_keys.signing_public_key.encode() in stored
