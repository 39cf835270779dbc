"""A batch's records: `batch.csv` (one row per input, for people) and `.batch-state.jsonl` (what is done, for reruns).

The state is an append-only log, one JSON line per finished input, keyed by the input's content hash + the options
that change results; the last line for a key wins. A line is flushed to disk before the next input starts, so a
batch stopped at any point (Ctrl-C, a crash, a power cut) loses at most the inputs in flight; a torn last line is
ignored. batch.csv is rewritten atomically after each input, so it is always complete and consistent.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from lart_demo.atomic import atomic_output
from lart_demo.batch.inputs import BatchInput, content_digest

log = logging.getLogger(__name__)

SUMMARY_FILE = "batch.csv"
STATE_FILE = ".batch-state.jsonl"
COLUMNS = ("input", "status", "reason", "duration_s", "frames", "tracks", "output", "elapsed_s")
STATUSES = ("ok", "failed", "skipped")


@dataclass(frozen=True)
class Outcome:
    """How one input went. `duration_s`: seconds of video analysed; `elapsed_s`: seconds the analysis took."""

    input: str
    status: str  # one of STATUSES
    reason: str = ""
    duration_s: float | None = None
    frames: int | None = None
    tracks: int | None = None
    output: str = ""  # the result folder, relative to the batch folder
    elapsed_s: float | None = None
    retry_next_run: bool = False  # a failure that was not the input's (its worker died): not kept in the state

    def row(self) -> dict[str, str]:
        values = asdict(self)
        return {k: "" if values[k] is None else str(round(values[k], 2) if isinstance(values[k], float) else values[k])
                for k in COLUMNS}  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One line of the state log: a finished (ok or failed) input and how to recognise its file again."""

    key: str
    digest: str
    source: str
    size: int | None
    mtime_ns: int | None
    outcome: Outcome
    finished_utc: str

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "outcome": asdict(self.outcome)}, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Record:
        data = json.loads(line)
        outcome = Outcome(**{f.name: data["outcome"][f.name] for f in fields(Outcome) if f.name in data["outcome"]})
        return cls(**{**{f.name: data[f.name] for f in fields(cls) if f.name != "outcome"}, "outcome": outcome})


def _file_identity(item: BatchInput) -> tuple[int, int] | None:
    path = item.path
    if path is None:
        return None
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class State:
    """The resumable state of the batch in `out_dir`."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / STATE_FILE
        self._latest: dict[str, Record] = {}
        self._folder_owner: dict[str, str] = {}  # result folder -> key of the run whose files it holds
        self._digests: dict[tuple[str, int | None, int | None], str] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = Record.from_json(line)
            except (ValueError, KeyError, TypeError):
                # a line torn by a hard stop is dropped: that input is simply done again
                log.warning("%s line %d is unreadable and was ignored", self.path, number)
                continue
            self._remember(record)

    def _remember(self, record: Record) -> None:
        self._latest[record.key] = record
        self._digests[(record.source, record.size, record.mtime_ns)] = record.digest
        if record.outcome.status == "ok":
            self._folder_owner[record.outcome.output] = record.key

    def digest(self, item: BatchInput) -> str:
        """The input's content hash; a file unchanged since a recorded run (same size and mtime) is not re-read."""
        identity = _file_identity(item)
        known = self._digests.get((item.source, *identity)) if identity else None
        return known or content_digest(item)

    def finished(self, key: str) -> Record | None:
        """The last record for `key` that still holds: a failure, or a success whose folder has its results."""
        record = self._latest.get(key)
        if record is None:
            return None
        if record.outcome.status == "ok":
            folder = record.outcome.output
            if self._folder_owner.get(folder) != key or not (self.out_dir / folder / "results.json").is_file():
                return None  # deleted, or replaced by a run with other options: do it again
        return record

    def add(self, key: str, digest: str, item: BatchInput, outcome: Outcome) -> None:
        """Append one finished input (flushed to disk before returning)."""
        identity = _file_identity(item) if item.path is not None and item.path.is_file() else None
        record = Record(
            key=key,
            digest=digest,
            source=item.source,
            size=identity[0] if identity else None,
            mtime_ns=identity[1] if identity else None,
            outcome=outcome,
            finished_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(record.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._remember(record)


class Summary:
    """batch.csv: one row per input of this run, in input order, rewritten whole after every change."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / SUMMARY_FILE
        self._rows: dict[int, Outcome] = {}

    def set(self, index: int, outcome: Outcome) -> None:
        self._rows[index] = outcome
        self.write()

    def outcomes(self) -> list[Outcome]:
        return [self._rows[i] for i in sorted(self._rows)]

    def write(self) -> None:
        with atomic_output(self.path, "w", newline="", encoding="utf-8") as fh:  # never seen half-written
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(o.row() for o in self.outcomes())
