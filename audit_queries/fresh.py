"""Answers that include everything recorded before the question was asked.

Before a query, question or report runs, the server's own export
(`Settings.forensic_export_dir`) is brought up to date: only what was recorded
since the last run is read and written, so this costs milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb

from audit_queries import forensic_db
from audit_queries.export import Manifest, export

if TYPE_CHECKING:
    from adapters.bootstrap import System

# One run at a time in this process (the export's lock file orders processes).
_exporting = threading.Lock()


def bring_up_to_date(system: System) -> Manifest:
    """The server's export, up to the ledger's head as of now."""
    with _exporting:
        return export(system.ledger, system.settings.forensic_export_dir).manifest


@contextmanager
def fresh_connection(
    system: System, *, for_sql: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked-down DuckDB connection over the export, brought up to date first (a cursor
    of the export's long-lived database: `forensic_db.shared`).

    Pass the SQL to be run as `for_sql` so the lazy views it names (`ocsf`) exist.
    """
    bring_up_to_date(system)
    with forensic_db.shared(system.settings.forensic_export_dir, for_sql=for_sql) as connection:
        yield connection
