"""Trust on first download: the size and sha256 of each file, recorded when it first verifies.

`<weights>/weights.lock.json` maps each file's path inside the weights folder to its size, sha256
and modification time. Later runs and `weights status` compare every present file with its entry:
the size always, the sha256 whenever the modification time changed (so an unchanged 2.5 GB file is
not re-hashed on every run). A file that no longer matches is moved to `<weights>/.rejected/` and
reported, never used. A download or import of a path that has an entry must match it too; delete
the entry to trust a new file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lart_demo.atomic import atomic_write_bytes
from lart_demo.errors import WeightsError
from lart_demo.weights.verify import sha256_of

LOCK_NAME = "weights.lock.json"
REJECTED_DIR = ".rejected"


@dataclass(frozen=True)
class LockEntry:
    size: int
    sha256: str
    mtime_ns: int


def lock_path(weights_dir: Path) -> Path:
    return Path(weights_dir) / LOCK_NAME


def read_lock(weights_dir: Path) -> dict[str, LockEntry]:
    path = lock_path(weights_dir)
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {rel: LockEntry(int(e["size"]), str(e["sha256"]), int(e.get("mtime_ns", 0))) for rel, e in raw.items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WeightsError(
            f"{path} is damaged ({exc}); delete it and run `python -m lart_demo weights verify` to record the "
            "files again."
        ) from exc


def _write_lock(weights_dir: Path, entries: dict[str, LockEntry]) -> None:
    data = {rel: asdict(entry) for rel, entry in sorted(entries.items())}
    atomic_write_bytes(lock_path(weights_dir), (json.dumps(data, indent=2) + "\n").encode())


def record(weights_dir: Path, relpath: str, sha256: str | None = None) -> LockEntry:
    """Record the file at `relpath` (already verified); an existing entry must match it."""
    path = Path(weights_dir) / relpath
    digest = sha256 or sha256_of(path)
    stat = path.stat()
    entries = read_lock(weights_dir)
    old = entries.get(relpath)
    if old is not None and (old.size != stat.st_size or old.sha256 != digest):
        raise WeightsError(
            f"{relpath}: sha256 {digest[:16]}... differs from the one recorded on first download "
            f"({old.sha256[:16]}...) in {LOCK_NAME}; delete its entry there to trust the new file."
        )
    entries[relpath] = LockEntry(stat.st_size, digest, stat.st_mtime_ns)
    _write_lock(weights_dir, entries)
    return entries[relpath]


def expected(weights_dir: Path, relpath: str) -> LockEntry | None:
    return read_lock(weights_dir).get(relpath)


def mismatch(weights_dir: Path, relpath: str) -> str | None:
    """Why the file at `relpath` no longer matches its lock entry (None: matches, absent, or not locked)."""
    entries = read_lock(weights_dir)
    entry = entries.get(relpath)
    path = Path(weights_dir) / relpath
    if entry is None or not path.is_file():
        return None
    stat = path.stat()
    if stat.st_size != entry.size:
        return f"size {stat.st_size} bytes, {entry.size} recorded on first download"
    if stat.st_mtime_ns == entry.mtime_ns:
        return None
    digest = sha256_of(path)
    if digest != entry.sha256:
        return f"sha256 {digest[:16]}..., {entry.sha256[:16]}... recorded on first download"
    entries[relpath] = LockEntry(entry.size, entry.sha256, stat.st_mtime_ns)  # same content, touched
    _write_lock(weights_dir, entries)
    return None


def move_aside(weights_dir: Path, relpath: str) -> Path:
    """Move a file that failed its lock check out of the way, so nothing loads it."""
    src = Path(weights_dir) / relpath
    dst = Path(weights_dir) / REJECTED_DIR / f"{relpath}.{time.strftime('%Y%m%d-%H%M%S')}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    return dst
