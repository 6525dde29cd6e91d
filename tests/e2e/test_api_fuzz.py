"""The fuzz ring: schemathesis drives every operation of `/openapi.json` against a real
server on the embedded store: as a super-admin, as a compliance officer, and anonymously.

Each answer must be one the document promises (status, body, content type, headers),
never a 5xx, and input outside the documented bounds must be refused. Afterwards the
log must verify and every read model must have followed it to the head: a request the
API accepted but a projection could not hold would show here as a stall.

The examples per operation are bounded (EXAMPLES) so the ring takes about a minute
on two cores, and the seed is fixed, so a failure replays the same way.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, HookContext
from schemathesis.core.parameters import ParameterLocation

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from api.app import create_app
from api.local_server import live_server
from api.world import World
from audit_queries.verify import verify_store
from client.api import StrongroomClient
from domain.access import Permission, Role
from domain.identity import Identity
from tests.stores import store_settings

EXAMPLES = 40  # generated cases per operation in the fuzzing phase, besides boundary cases
SEED = 20261127
PROFILE = "Granite User"

# What every answer is checked for. `positive_data_acceptance` is left out: the domain
# refuses, with a 422, input the schema cannot describe (a bad signature, a taken name).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "ignored_auth",
]

# Ids and names that exist, by the path parameter or body field that takes them; the
# enclave fixture fills it in. Not root's own id, nor the officer's: a run that demoted
# or deactivated either would leave the rest of it answering 401 and 403.
KNOWN: dict[str, list[str]] = {}


@dataclass
class Enclave:
    settings: Settings
    url: str
    tokens: dict[str, str]
    server: ExitStack
    before: int  # the log's head when the run began
    # Statuses answered, by who and operation: what the run reached.
    seen: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def call(self, case: Case, who: str | None) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else None
        response = case.call_and_validate(base_url=self.url, headers=headers)
        self.seen[f"{who or 'anonymous'} {case.method} {case.path}"][response.status_code] += 1


@pytest.fixture(scope="module")
def enclave(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enclave]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    # Every case comes from one address: limits meant for a person would soon answer
    # everything with 429 (documented, so passing) and hide the rest of the API.
    unlimited = "1000000"
    with (
        store_settings(
            "sqlite",
            home,
            STRONGROOM_RATE_ANONYMOUS=unlimited,
            STRONGROOM_RATE_FAILED_AUTH=unlimited,
        ) as settings,
        ExitStack() as server,
    ):
        with bootstrap(settings) as system:
            world = World(system.app)
            world.person("ada", Role.ADMIN, teams=("Genomics",))
            world.person("li", Role.SUB_ADMIN, teams=("Imaging",), sub_admin_of=("Imaging",))
            world.person("sam", teams=("Imaging",))
            world.register("new")  # waiting to be activated
            world.person("olive", teams=("Genomics",))
            with world.acting("root"):
                identity = Identity(system.app)
                identity.set_permissions(
                    world.ids["olive"], grant={Permission.AUDIT}, restrict=set()
                )
                identity.create_profile(PROFILE, {Permission.VIEW})
            before = system.ledger.head()
        url = server.enter_context(live_server(settings))
        tokens = {}
        for label in ("root", "olive"):
            with StrongroomClient(url) as client:
                client.login(world.keys[label], world.email(label))
                assert client.token is not None
                tokens[label] = client.token
        KNOWN.update(
            user_id=[str(world.ids[label]) for label in ("ada", "li", "sam", "new")],
            team_id=[str(team) for team in world.teams.values()],
            profile=[PROFILE],
        )
        yield Enclave(settings, url, tokens, server, before)
        KNOWN.clear()


def document() -> dict[str, Any]:
    """The OpenAPI document; it depends on the routes only, so no store is opened."""
    return create_app(Settings.from_env({"STRONGROOM_HOME": "/nonexistent"})).openapi()


# Loaded when the module is collected: schemathesis makes one test per operation.
schema = schemathesis.openapi.from_dict(
    document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES,
                "database": "none",
                # The session header is ours to send: negative cases leave it alone.
                "with-security-parameters": False,
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # A body too large for the server is refused before it is read (413).
                "negative_data_rejection": {
                    "enabled": True,
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "406",
                        "409",
                        "413",
                        "415",
                        "422",
                        "428",
                        "429",
                        "5xx",
                    ],
                },
            },
            # The stateful phase follows links between operations; ids come from KNOWN.
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


def _valid(case: Case, location: ParameterLocation) -> bool:
    component = case.meta.components.get(location) if case.meta else None
    return component is not None and component.mode is not GenerationMode.NEGATIVE


@schema.hook("flatmap_case")
def known_ids(context: HookContext, case: Case) -> st.SearchStrategy[Case]:
    """Often ids and names that exist, so the run reaches past 404; else what was generated.

    Only where the part was generated as valid: a part made invalid on purpose (a
    negative case) must stay invalid, or its acceptance would look like a bug.
    """
    choices: dict[str, st.SearchStrategy[Any]] = {}
    if case.path_parameters and _valid(case, ParameterLocation.PATH):
        path = dict(case.path_parameters)
        choices["path"] = st.fixed_dictionaries(
            {name: st.sampled_from([*KNOWN.get(name, []), value]) for name, value in path.items()}
        )
    if isinstance(case.body, dict) and _valid(case, ParameterLocation.BODY):
        body = dict(case.body)
        choices["body"] = st.fixed_dictionaries(
            {
                name: st.sampled_from([*KNOWN.get(name, []), value])
                if name in KNOWN
                else st.just(value)
                for name, value in body.items()
            }
        )
    if not choices:
        return st.just(case)

    def with_known(chosen: dict[str, dict[str, Any]]) -> Case:
        if "path" in chosen:
            case.path_parameters = chosen["path"]
        if "body" in chosen:
            case.body = chosen["body"]
        return case

    return st.fixed_dictionaries(choices).map(with_known)


# A server round trip per example: no deadline, and slow generation is expected.
RELAXED = settings(suppress_health_check=list(HealthCheck), deadline=None)


# Logging out would end the session the run uses; logout is fuzzed anonymously.
@schema.exclude(path="/api/v1/auth/logout").parametrize()
@RELAXED
def test_as_a_super_admin(case: Case, enclave: Enclave) -> None:
    enclave.call(case, "root")


# What only compliance officers may read: alerts, refusals, sessions, the dashboard.
# Not the live stream: a 200 there never ends (tests/api/test_bounds.py opens one).
@(
    schema.include(path_regex="^/api/v1/(alerts|refusals|sessions|dashboard)")
    .exclude(path="/api/v1/alerts/stream")
    .parametrize()
)
@settings(RELAXED, max_examples=EXAMPLES // 2)
def test_as_a_compliance_officer(case: Case, enclave: Enclave) -> None:
    enclave.call(case, "olive")


@schema.parametrize()
@settings(RELAXED, max_examples=EXAMPLES // 4)
def test_anonymously(case: Case, enclave: Enclave) -> None:
    enclave.call(case, None)


def test_afterwards_the_log_verifies_and_every_read_model_is_at_its_head(
    enclave: Enclave, request: pytest.FixtureRequest
) -> None:
    # Whatever part of the ring ran before (all of it in CI), the log it left must
    # verify and the read models must catch up; what a part must have reached is
    # asserted when that part ran.
    ran = {item.originalname for item in request.session.items if isinstance(item, pytest.Function)}
    if "test_as_a_super_admin" in ran:
        # The run reached past refusals: writes were accepted...
        assert enclave.seen["root PUT /api/v1/teams/{team_id}/quota"][204]
        assert enclave.seen["root POST /api/v1/teams/{team_id}/members"][204]
    if "test_as_a_compliance_officer" in ran:
        # ...and officers read.
        assert enclave.seen["olive GET /api/v1/alerts"][200]

    # The server's own read models, as /healthz reports them, once they catch up
    # (or one stalls); the deadline only bounds the wait, the asserts say what is wrong.
    deadline = time.monotonic() + 60
    while True:
        health = httpx.get(f"{enclave.url}/healthz").json()
        projections = health["projections"]
        settled = all(p["lag"] == 0 for p in projections)
        if settled or health["status"] != "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [p["name"] for p in projections if p["state"] == "stalled"] == [], projections
    assert {p["name"]: p["lag"] for p in projections} == {p["name"]: 0 for p in projections}
    assert {p["position"] for p in projections} == {health["position"]}

    # Stopping the server signs what is left; then the whole log must verify.
    enclave.server.close()
    report = verify_store(enclave.settings)
    assert report.ok, report.problem
    assert report.last_position > enclave.before  # the run recorded: changes, refusals
