"""The dashboard's compliance panels in headless Chromium: an officer sees who is not
compliant and why, and a certification expiring on the server's clock moves from
"expiring" to "expired", its holder to the non-compliant, without a reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import StrongroomClient
from domain.access import Role
from domain.compliance import Compliance


def test_an_officer_sees_non_compliant_members_and_an_expiry_arrive(
    settings: Settings, browser: Browser, clock: ManualClock, tmp_path: Path
) -> None:
    # DAC needs "DAC Compliance" (HIPAA). Rita's was withdrawn; Olga's runs out in ten minutes.
    app = open_system(settings, clock=clock).app
    world = World(app)
    world.person("admin", Role.ADMIN)
    world.person("officer", name="Oscar Officer", audit=True)
    rita = world.person("rita", name="Rita Levi")
    olga = world.person("olga", name="Olga Berg")
    c = Compliance(app)
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "yearly training", 365)
        hipaa = c.create_level("HIPAA", "", [training])
        dac = c.create_project("DAC <Study>", hipaa)
        c.certify(rita, training, clock.now() + timedelta(days=200))
        c.certify(olga, training, clock.now() + timedelta(minutes=10))
        c.add_member(dac, rita)
        c.add_member(dac, olga, ["cannot-download"])
        c.decertify(rita, training, "failed the annual quiz")
    app.close()

    with live_server(settings, clock=clock) as url:
        officer = StrongroomClient(url)
        officer.login(world.keys["officer"], world.email("officer"))
        page: Page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{url}/dashboard#token={officer.token}")

        # Rita is not compliant in DAC, and the dashboard says why; the project's name
        # is stored text, shown as text.
        lapsed = page.locator("#non-compliant-table tr").filter(has_text="Rita Levi")
        expect(lapsed).to_contain_text(f"Rita Levi <{world.email('rita')}>")
        expect(lapsed).to_contain_text("DAC <Study>")
        expect(lapsed).to_contain_text("HIPAA: DAC Compliance revoked 2026-03-01")
        expect(page.locator("#non-compliant-projects")).to_have_text("1")
        expect(page.locator("#non-compliant")).to_contain_text("1 member not compliant")
        # Olga's certification is expiring within 30 days.
        olga_row = page.locator("#certifications-table tr").filter(has_text="Olga Berg")
        expect(olga_row).to_contain_text(f"Olga Berg <{world.email('olga')}>")
        expect(olga_row).to_contain_text("DAC Compliance")
        expect(olga_row).to_contain_text("expiring")
        expect(page.locator("#certifications-expiring")).to_have_text("1")
        expect(page.locator("#live-text")).to_have_text("live")

        # Ten minutes pass on the server's clock: its expiry process records the
        # expiry and Olga's lapse; the alert brings the panels up to date, live.
        clock.advance(timedelta(minutes=10, seconds=1))
        expect(
            page.locator("#alerts tr.new").filter(has_text="Member non-compliant")
        ).to_contain_text("Olga Berg", timeout=15_000)
        lapsed_olga = page.locator("#non-compliant-table tr").filter(has_text="Olga Berg")
        expect(lapsed_olga).to_contain_text("HIPAA: DAC Compliance expired 2026-03-01")
        expect(page.locator("#non-compliant")).to_contain_text("2 members not compliant")
        expect(olga_row).to_contain_text("expired")
        expect(page.locator("#certifications-expiring")).to_have_text("0")
        page.screenshot(path=str(tmp_path / "dashboard-compliance.png"), full_page=True)
        page.close()
