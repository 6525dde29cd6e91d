"""The compliance dashboard in headless Chromium: an officer sees the data, and a new
alert appears without a reload."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.demo import ADMIN_EMAIL, load_demo
from api.local_server import live_server
from api.world import World
from client.api import StrongroomClient
from client.keys import UserKeys
from domain.access import Permission
from domain.envelope import AuditContext, acting_as
from domain.identity import Identity, Registration
from domain.users import EmailIndex, User


def test_an_officer_watches_an_alert_arrive(
    settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    # The demo organisation, with its compliance officer.
    admin_keys = UserKeys.generate()
    app = open_system(settings).app
    with acting_as(AuditContext.system("bootstrap")):
        Identity(app).bootstrap_super_admin(
            Registration(**admin_keys.registration(ADMIN_EMAIL, "Ada Admin"))
        )
    org = load_demo(app, settings.home)
    officer_keys = UserKeys.load(settings.home / "keys" / "officer@enclave.example.edu.key", "demo")
    with live_server(settings) as url:
        officer = StrongroomClient(url)
        officer.login(officer_keys, "officer@enclave.example.edu")
        officer.request("POST", "/api/v1/audit/query", json={"sql": "SELECT count(*) FROM events"})
        page: Page = browser.new_page(viewport={"width": 1366, "height": 860})
        page.goto(f"{url}/dashboard#token={officer.token}")

        # The officer sees the organisation: people, teams, denials, alerts.
        expect(page.locator("#people-total")).to_have_text(str(len(org.ids)))
        expect(page.locator("#teams")).to_contain_text("Genomics Core")
        expect(page.locator("#denied")).to_contain_text("permissions, not roles")
        # Refusals and alerts say who: the sub-admin who tried, the person locked out.
        expect(page.locator("#denied")).to_contain_text("Dana Lead <dac.lead@enclave.example.edu>")
        expect(page.locator("#alerts")).to_contain_text("account locked")
        expect(page.locator("#alerts")).to_contain_text(
            "Mallory Guess <mallory@enclave.example.edu>"
        )
        expect(page.locator("#live-text")).to_have_text("live")
        # Who used the history, and how far the forensic export reaches.
        expect(
            page.locator("#forensics tr").filter(has_text="ran a forensic query")
        ).to_contain_text("officer@enclave.example.edu")
        expect(page.locator("#forensics-reach")).to_contain_text("export holds positions up to")
        assert "token" not in page.url  # dropped from the address bar and history

        # Something happens elsewhere: a role change, through the API.
        admin = StrongroomClient(url)
        admin.login(admin_keys, ADMIN_EMAIL)
        admin.set_role(str(org.ids["li.wei"]), "sub-admin")

        # It appears, live, without a reload.
        arrived = page.locator("#alerts tr.new").filter(
            has_text="role changed from user to sub-admin"
        )
        expect(arrived).to_be_visible(timeout=15_000)
        # What docs/dashboard.png shows (copied from a run of this test).
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.close()
    app.close()


def test_without_an_officer_session_the_page_asks_for_one(
    settings: Settings, browser: Browser
) -> None:
    keys = UserKeys.generate()
    app = open_system(settings).app
    with acting_as(AuditContext.system("bootstrap")):
        Identity(app).bootstrap_super_admin(
            Registration(**keys.registration("root@enclave.edu", "Root"))
        )
    app.close()
    with live_server(settings) as url:
        root = StrongroomClient(url)
        root.login(keys, "root@enclave.edu")
        page = browser.new_page()
        page.goto(f"{url}/dashboard")
        expect(page.locator("#login")).to_be_visible()
        # A super-admin is not a compliance officer: no audit capability, no dashboard.
        page.fill("#token-input", root.token or "")
        page.click("#token-button")
        expect(page.locator("#error")).to_contain_text("no audit capability")
        expect(page.locator("#board")).to_be_hidden()
        page.close()


def test_a_stalled_read_model_turns_the_dashboard_red_and_hostile_text_stays_inert(
    settings: Settings, browser: Browser
) -> None:
    app = open_system(settings).app
    world = World(app)
    world.person("officer")
    with world.acting("root"):
        Identity(app).set_permissions(
            world.ids["officer"], grant={Permission.AUDIT}, restrict=set()
        )
    # Stored before the domain refused such text (written past the command on purpose):
    # a name with a right-to-left override and an ANSI escape, and an unprojectable quota.
    keys = UserKeys.generate()
    team = Identity(app).team(world.team("A"))
    with world.acting("root"):
        eve = User(
            email="eve@example.edu",
            name="Eve \u202eNIMDA\x1b[31m",
            signing_public_key=keys.signing_public_key,
            encryption_public_key=keys.encryption_public_key,
        )
        team.change_quota(
            before=team.quota.as_dict(), after={**team.quota.as_dict(), "vm_count": 2**70}
        )
        app.save(eve, EmailIndex(eve.email, eve.id), team)
    app.close()
    with live_server(settings) as url:
        officer = StrongroomClient(url)
        officer.login(world.keys["officer"], world.email("officer"))
        page: Page = browser.new_page()
        page.goto(f"{url}/dashboard#token={officer.token}")
        expect(page.locator("#lag")).to_contain_text("teams: stalled at")
        expect(page.locator("#live-dot")).to_have_class("dot bad")
        expect(page.locator("#live-text")).to_contain_text("1 read model stalled")
        expect(page.locator("#alerts")).to_contain_text("Projection stalled")
        # The stored controls are shown as escapes, and act on nothing.
        expect(page.locator("#alerts")).to_contain_text("Eve \\u202eNIMDA\\u001b[31m")
        assert "\u202e" not in page.locator("body").inner_text()
        page.close()
