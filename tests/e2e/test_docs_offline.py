"""`/docs` and `/redoc` inside an enclave: headless Chromium with every request to anything
but the server refused still shows every operation, the Authorize button and the reference.

FastAPI's own pages load their scripts from a public CDN, and stay blank without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from adapters.bootstrap import bootstrap
from api.local_server import live_server
from api.world import World
from client.api import StrongroomClient
from tests.stores import store_settings

METHODS = {"get", "put", "post", "delete", "patch"}
LINKED = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|url: '([^']+)'""")


@dataclass
class Site:
    url: str
    email: str
    token: str  # a super-admin's session


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # The pages do not depend on the store: one SQLite home serves every test here.
    home = tmp_path_factory.mktemp("docs") / "home"
    with store_settings("sqlite", home) as settings:
        with bootstrap(settings) as system:
            world = World(system.app)
        with live_server(settings) as url, StrongroomClient(url) as root:
            root.login(world.keys["root"], world.email("root"))
            assert root.token is not None
            yield Site(url, world.email("root"), root.token)


@pytest.mark.parametrize("page_path", ["/docs", "/redoc"])
def test_the_pages_link_only_to_the_server(site: Site, page_path: str) -> None:
    page = httpx.get(f"{site.url}{page_path}")
    assert page.status_code == 200
    linked = [a or b for a, b in LINKED.findall(page.text)]
    assert linked, page.text  # the pattern still finds the page's links
    for link in linked:
        assert link.startswith("/") and not link.startswith("//"), link
        assert httpx.get(urljoin(site.url, link)).status_code == 200, link


class Enclave:
    """A page that may reach the server only; what it tried elsewhere is kept."""

    def __init__(self, browser: Browser, server: str) -> None:
        self.server_host = urlsplit(server).hostname
        self.refused: list[str] = []
        self.errors: list[str] = []
        self.page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.route("**/*", self._only_the_server)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def _only_the_server(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == self.server_host:
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort("internetdisconnected")


def test_swagger_ui_shows_every_operation_and_calls_them_offline(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    spec = httpx.get(f"{site.url}/openapi.json").json()
    operations = sum(1 for item in spec["paths"].values() for method in item if method in METHODS)
    enclave = Enclave(browser, site.url)
    page = enclave.page
    page.goto(f"{site.url}/docs")

    # Every operation is listed, with the lock of those that need a session.
    expect(page.locator(".opblock")).to_have_count(operations, timeout=15_000)
    expect(page.locator(".opblock .authorization__btn").first).to_be_visible()

    # Authorize with a session, then call an operation from the page.
    page.locator("button.authorize").click()
    page.locator(".modal-ux input#auth-bearer-value").fill(site.token)
    page.locator(".modal-ux button.modal-btn.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    me = page.locator(".opblock", has=page.get_by_text("/api/v1/users/me", exact=True))
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    answered = me.locator(".live-responses-table tbody .response-col_status").first
    expect(answered).to_have_text("200", timeout=15_000)
    expect(me.locator(".live-responses-table")).to_contain_text(site.email)
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)

    assert enclave.refused == []
    assert enclave.errors == []
    page.close()


def test_redoc_shows_the_reference_offline(site: Site, browser: Browser, tmp_path: Path) -> None:
    enclave = Enclave(browser, site.url)
    enclave.page.goto(f"{site.url}/redoc")

    # The menu lists the capabilities; each operation has its section, with its bounds.
    expect(enclave.page.get_by_role("menuitem", name="teams")).to_be_visible(timeout=15_000)
    expect(enclave.page.get_by_role("heading", name="Set Quota")).to_be_attached()
    expect(enclave.page.get_by_text("bytes of vault storage, 0 to").first).to_be_attached()
    enclave.page.screenshot(path=str(tmp_path / "redoc.png"), full_page=False)

    assert enclave.refused == []
    # ReDoc's footer names its vendor's logo on a CDN: the page's policy refuses it
    # in the browser, before a request is made. Nothing else is refused or fails.
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in error for error in enclave.errors), (
        enclave.errors
    )
    enclave.page.close()
