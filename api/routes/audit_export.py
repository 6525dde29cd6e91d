"""The forensic export, read by machines and auditors: the manifest, then its files.

A SIEM or an auditor's script holding an `export` token (or an officer's session)
copies the server's own export: `GET /api/v1/audit/export/manifest` brings it up
to date and lists its files; `GET /api/v1/audit/export/files/{path}` serves one
file the manifest names (a day's Parquet, a signed checkpoint), or the manifest
itself (`_manifest.json`), so that a copy verifies offline like the original. Every read is
recorded (`ExportRead.Recorded`: who, which file, the position it reaches) before
it is served; a refusal is recorded before the 403. Only files the manifest names
are served, so no path can reach outside the export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, CurrentSystem, capability
from api.schemas import error_responses
from api.token_scope import requires_scope
from audit_queries.export import CHECKPOINTS_DIR, MANIFEST, Manifest, checkpoint_file_name
from audit_queries.fresh import bring_up_to_date
from domain.errors import NotFound
from domain.exports import ExportReads

router = APIRouter(
    prefix="/api/v1/audit/export",
    tags=["audit"],
    responses=error_responses(401, 403),
    dependencies=[Depends(requires_scope("export"))],
)

ExportUseCases = Annotated[ExportReads, Depends(capability(ExportReads))]
MAX_PATH = 200


class ExportFileNotFound(NotFound):
    """No such file in the export's manifest."""


@router.get("/manifest")
async def manifest(
    readers: ExportUseCases, system: CurrentSystem, _: CurrentPrincipal
) -> dict[str, Any]:
    """The export, brought up to date: its position, chain hash, files and checkpoints."""
    await run_in_threadpool(readers.officer)
    current = await run_in_threadpool(bring_up_to_date, system)
    await run_in_threadpool(readers.record_read, MANIFEST, current.position, len(current.files))
    listed = _served_files(system.settings.forensic_export_dir, current)
    return {
        "format": current.format,
        "position": current.position,
        "chain_hash": current.chain_hash,
        "events": current.events,
        "files": [f for f in listed if f != MANIFEST and not f.startswith(CHECKPOINTS_DIR)],
        "checkpoints": [f for f in listed if f.startswith(CHECKPOINTS_DIR)],
    }


@router.get("/files/{path:path}", responses=error_responses(404))
async def file(
    path: str, readers: ExportUseCases, system: CurrentSystem, _: CurrentPrincipal
) -> FileResponse:
    """One file the manifest names (Parquet or a checkpoint's JSON), as stored."""
    directory = system.settings.forensic_export_dir
    await run_in_threadpool(readers.officer)
    current = Manifest.load(directory)
    if len(path) > MAX_PATH or path not in _served_files(directory, current):
        raise ExportFileNotFound(
            f"no file {path!r} in the export (see /api/v1/audit/export/manifest)"
        )
    served = directory / path
    size = served.stat().st_size
    await run_in_threadpool(readers.record_read, path, current.position, size)
    media = "application/json" if path.endswith(".json") else "application/vnd.apache.parquet"
    return FileResponse(served, media_type=media, filename=Path(path).name)


def _served_files(directory: Path, manifest: Manifest) -> list[str]:
    """The manifest, its data files and the checkpoints it covers, relative to the export."""
    checkpoints = sorted(
        f"{CHECKPOINTS_DIR}/{p.name}"
        for p in (directory / CHECKPOINTS_DIR).glob("*.json")
        # Only those the manifest has reached: a later one may sign what is not exported yet.
        if p.name <= checkpoint_file_name(manifest.checkpoint_seq)
    )
    return [MANIFEST, *(f.path for f in manifest.files), *checkpoints]
