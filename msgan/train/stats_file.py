"""stats.jsonl: one row per tick, kimg strictly increasing, across resumes, rollbacks and Ctrl-C.

Only rank 0 holds one. A row at the last row's kimg (a snapshot on Ctrl-C just after its tick was
written) is merged into that row; a resume or rollback drops the rows past the kimg it restores.
"""
from __future__ import annotations

import json
import os

from msgan.io import append_text, read_stats, write_text


class StatsFile:
    def __init__(self, path: str):
        self.path = path
        self.last_row = None          # the last row written

    def rows(self) -> list:
        return read_stats(self.path)

    def clear(self) -> None:
        """The rows of a start that died before its first snapshot are not this run's."""
        if os.path.exists(self.path):
            self._rewrite([])

    def truncate(self, kimg: float) -> None:
        """Drop rows past ``kimg``: after a crash or a rollback they describe abandoned ticks."""
        self._rewrite([r for r in self.rows() if r["kimg"] <= kimg + 1e-9])

    def write(self, row: dict) -> None:
        last = self.last_row
        if last is not None and abs(last["kimg"] - row["kimg"]) < 1e-9:
            rows = self.rows()
            self._rewrite(rows[:-1] + [{**rows[-1], **row}] if rows else [row])
            return
        append_text(self.path, json.dumps(row) + "\n")
        self.last_row = row

    def _rewrite(self, rows: list) -> None:
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))
        self.last_row = rows[-1] if rows else None
