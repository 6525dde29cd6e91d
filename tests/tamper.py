"""An attacker with direct database access, for tamper tests: triggers off, rows changed."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

import psycopg

from adapters.ledger.chain import event_digest, link_hash
from adapters.settings import PostgresStore, Settings, SqliteStore


class Tamperer:
    def __init__(self, settings: Settings) -> None:
        store = settings.store
        if isinstance(store, SqliteStore):
            self.db: Any = sqlite3.connect(store.path, isolation_level=None)
            for (name,) in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall():
                self.db.execute(f"DROP TRIGGER {name}")
            self.events, self.position, self.mark = "stored_events", "rowid", "?"
        else:
            assert isinstance(store, PostgresStore)
            self.db = psycopg.connect(**store.conninfo(), autocommit=True)  # type: ignore[arg-type]
            # Replica mode switches off ordinary triggers for this session only.
            self.db.execute("SET session_replication_role = replica")
            self.events, self.position, self.mark = "strongroom_events", "notification_id", "%s"
        self.chain = f"{self.events}_chain"
        self.checkpoints = f"{self.events}_checkpoints"
        self.is_sqlite = isinstance(store, SqliteStore)

    def run(self, sql: str, *params: Any) -> list[Any]:
        sql = sql.replace("$pos", self.position).replace("?", self.mark)
        cursor = self.db.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        self.db.close()

    # -- events -------------------------------------------------------------------------

    def set_state(self, position: int, state: bytes) -> None:
        self.run(f"UPDATE {self.events} SET state = ? WHERE $pos = ?", state, position)

    def delete_event(self, position: int) -> None:
        self.run(f"DELETE FROM {self.events} WHERE $pos = ?", position)

    def delete_link(self, position: int) -> None:
        self.run(f"DELETE FROM {self.chain} WHERE position = ?", position)

    def swap_positions(self, a: int, b: int) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            self.run(f"UPDATE {self.events} SET $pos = ? WHERE $pos = ?", new, old)

    def forge_event(
        self, topic: str = "domain.forged:Forged.Event", position: int | None = None
    ) -> int:
        originator = UUID(int=0xF0F0)
        version = 1 + len(
            self.run(
                f"SELECT 1 FROM {self.events} WHERE originator_id = ?",
                originator.hex if self.is_sqlite else originator,
            )
        )
        oid: Any = originator.hex if self.is_sqlite else originator
        columns, values = "originator_id, originator_version, topic, state", "?, ?, ?, ?"
        params: list[Any] = [oid, version, topic, b'{"forged":true}']
        if position is not None:
            columns, values = f"$pos, {columns}", f"?, {values}"
            params.insert(0, position)
        self.run(f"INSERT INTO {self.events} ({columns}) VALUES ({values})", *params)
        if position is not None:
            return position
        (row,) = self.run(f"SELECT MAX($pos) FROM {self.events}")
        return int(row[0])

    def forge_link(self, position: int) -> None:
        """Append a well-formed chain link for the event at `position` (the format is public)."""
        ((prev_position, prev_hash),) = self.run(
            f"SELECT position, hash FROM {self.chain} WHERE position < ? "
            "ORDER BY position DESC LIMIT 1",
            position,
        )
        self._write_link(position, prev_position, bytes(prev_hash))

    def rechain_from(self, position: int) -> None:
        """Recompute every link from `position` on, as a careful attacker would."""
        ((prev_position, prev_hash),) = self.run(
            f"SELECT position, hash FROM {self.chain} WHERE position < ? "
            "ORDER BY position DESC LIMIT 1",
            position,
        )
        prev_hash = bytes(prev_hash)
        for (current,) in self.run(
            f"SELECT position FROM {self.chain} WHERE position >= ? ORDER BY position", position
        ):
            self.delete_link(current)
            prev_hash = self._write_link(current, prev_position, prev_hash)
            prev_position = current

    def _write_link(self, position: int, prev_position: int, prev_hash: bytes) -> bytes:
        ((oid, version, topic, state),) = self.run(
            f"SELECT originator_id, originator_version, topic, state FROM {self.events} "
            "WHERE $pos = ?",
            position,
        )
        originator = bytes.fromhex(oid) if self.is_sqlite else oid.bytes
        digest = event_digest(originator, version, topic, bytes(state))
        new_hash = link_hash(prev_hash, position, prev_position, digest)
        self.run(
            f"INSERT INTO {self.chain} VALUES (?, ?, ?, ?)",
            position,
            prev_position,
            digest,
            new_hash,
        )
        return new_hash

    def truncate_after(self, position: int, *, checkpoints: bool = True) -> None:
        self.run(f"DELETE FROM {self.events} WHERE $pos > ?", position)
        self.run(f"DELETE FROM {self.chain} WHERE position > ?", position)
        if checkpoints:
            self.run(f"DELETE FROM {self.checkpoints} WHERE position > ?", position)

    # -- checkpoints --------------------------------------------------------------------

    def delete_checkpoint(self, seq: int) -> None:
        self.run(f"DELETE FROM {self.checkpoints} WHERE seq = ?", seq)

    def set_checkpoint_hash(self, seq: int, chain_hash: bytes) -> None:
        self.run(f"UPDATE {self.checkpoints} SET chain_hash = ? WHERE seq = ?", chain_hash, seq)

    def checkpoint_positions(self) -> list[int]:
        return [
            int(r[0]) for r in self.run(f"SELECT position FROM {self.checkpoints} ORDER BY seq")
        ]
