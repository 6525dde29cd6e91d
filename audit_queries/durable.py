"""Files that are whole or absent: written under a temporary name, synced, renamed.

The export, the OCSF files and their manifests are read by other processes and
by auditors' tools while they are being written, and must survive a kill -9 or a
power cut; a reader must never see half a file. Temporary names start with
`.tmp-`, which Parquet readers pass over and the next run removes.
"""

from __future__ import annotations

import os
from pathlib import Path


def temporary_name(path: Path) -> Path:
    return path.with_name(f".tmp-{path.name}")


def write_atomically(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Whole or not at all; `sync=False` leaves syncing the directory to the caller."""
    temporary = temporary_name(path)
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    if sync:
        fsync_directory(path.parent)


def publish(temporary: Path, path: Path) -> None:
    """A file written under its temporary name, synced and given its name for good."""
    fsync_file(temporary)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    """A rename is durable only once its directory is synced."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
