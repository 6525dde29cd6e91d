"""Copying the forensic export over HTTP: an officer, or a machine with an `export` token.

Each read is recorded before it is served; only files the manifest names are served;
anyone else, and a token of another scope, is refused and the refusal recorded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from adapters.settings import Settings
from audit_queries.export_verify import verify_export
from tests.api.test_audit_history import Site, recorded
from tests.api.test_audit_history import site as site  # noqa: F401  (the fixture)


@pytest.fixture
def officer_http(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, headers=site.officer._headers()) as client:
        yield client


def test_an_officer_copies_the_export_and_it_verifies_offline(
    site: Site, officer_http: httpx.Client, tmp_path: Path, settings: Settings
) -> None:
    manifest = officer_http.get("/api/v1/audit/export/manifest")
    assert manifest.status_code == 200
    listed = manifest.json()
    assert (
        listed["position"] >= 1
        and listed["files"]
        and listed["checkpoints"] == sorted(listed["checkpoints"])
    )

    # Copy it file by file, as a SIEM would, and check the copy with the public key alone.
    copy = tmp_path / "copy"
    copied = ["_manifest.json", *listed["files"], *listed["checkpoints"]]
    for path in copied:
        answer = officer_http.get(f"/api/v1/audit/export/files/{path}")
        assert answer.status_code == 200, path
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes(answer.content)
    first = pq.read_table(io.BytesIO((copy / listed["files"][0]).read_bytes()))
    assert first.num_rows >= 1
    assert json.loads((copy / "_manifest.json").read_text())["position"] == listed["position"]
    report = verify_export(copy, settings.public_key_path)
    assert report.problem is None and report.last_position == listed["position"]

    # Every read is recorded, with who and which file.
    reads = recorded(site.app, "ExportRead.Recorded")
    officer = str(site.world.ids["officer"])
    assert [(r.actor_id, r.path) for r in reads] == [
        (officer, p) for p in ["_manifest.json", *copied]
    ]


@pytest.mark.parametrize(
    "path", ["../strongroom.db", ".export.lock", "day=1999-01-01/x.parquet", "%2e%2e/audit"]
)
def test_only_files_the_manifest_names_are_served(officer_http: httpx.Client, path: str) -> None:
    officer_http.get("/api/v1/audit/export/manifest")
    answer = officer_http.get(f"/api/v1/audit/export/files/{path}")
    assert answer.status_code == 404


def test_anyone_else_and_other_scopes_are_refused_and_recorded(site: Site) -> None:
    with httpx.Client(base_url=site.url, headers=site.root._headers()) as root:
        assert root.get("/api/v1/audit/export/manifest").status_code == 403
    query_token = site.officer.create_api_token("siem", ["query"], days=1)["secret"]
    export_token = site.officer.create_api_token("copier", ["export"], days=1)["secret"]
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {query_token}"}) as m:
        assert m.get("/api/v1/audit/export/manifest").status_code == 403
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {export_token}"}) as m:
        assert m.get("/api/v1/audit/export/manifest").status_code == 200
    refusals = [(r.actor_id, r.action) for r in recorded(site.app, "DeniedAttempt.Recorded")]
    assert (str(site.world.ids["root"]), "read-export") in refusals
    assert any(action == "use-token" for _, action in refusals)
    # The token's read is recorded as its creator's, through the token.
    read = recorded(site.app, "ExportRead.Recorded")[-1]
    assert (read.actor_id, read.session_id.startswith("token:")) == (
        str(site.world.ids["officer"]),
        True,
    )
