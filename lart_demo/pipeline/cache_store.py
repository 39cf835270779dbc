"""Where finished runs live: `<output_dir>/runs/<key>/`, shared by every process that uses the folder.

- One file lock per key (the filelock package): a second process asking for the same key waits for the
  first and reuses its result instead of computing it again.
- A run is built in a private folder and published with one `os.rename` onto its not-yet-existing
  final name, so a published folder is always complete and never missing; nothing ever replaces it.
- The cache is an LRU with a size cap (`Settings.cache_gb`, LART_DEMO_CACHE_GB): every publish evicts
  the least recently used run folders until the rest fits. Using a run (a cache hit) refreshes it.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from lart_demo.errors import InputError, LartDemoError

RUNS = "runs"
_BUILDING = ".building"  # private folders of runs in progress (and runs being deleted)
_LOCKS = ".locks"
COMPLETE_MARKER = "results.json"  # a run folder holding this is finished
_STALE_BUILD_S = 24 * 3600  # a private folder untouched this long belongs to a process that died


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    size: int  # bytes
    last_used: float  # unix time


@dataclass(frozen=True)
class CacheStatus:
    root: Path
    cap_bytes: int
    used_bytes: int
    entries: tuple[CacheEntry, ...]  # most recently used first

    def describe(self) -> str:
        return (
            f"Result cache: {self.root}\n"
            f"  {len(self.entries)} run(s), {_gb(self.used_bytes)} used of {_gb(self.cap_bytes)} "
            "(cap: LART_DEMO_CACHE_GB)"
        )


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def _folder_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # deleted meanwhile by another process
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


class RunCache:
    """The run folders under `<output_dir>/runs`, capped at `cap_bytes`."""

    def __init__(self, output_dir: Path | str, cap_bytes: int) -> None:
        self.root = Path(output_dir) / RUNS
        self.cap_bytes = int(cap_bytes)

    # ---- paths
    def path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise LartDemoError(f"Invalid run id {key!r}.")
        return self.root / key

    def _lock_path(self, key: str) -> Path:
        return self.root / _LOCKS / f"{key}.lock"

    # ---- reading
    def lookup(self, key: str) -> Path | None:
        """The published folder of `key` (marked as just used), or None."""
        path = self.path(key)
        if not (path / COMPLETE_MARKER).is_file():
            return None
        with contextlib.suppress(OSError):  # evicted meanwhile: the caller's read fails with a clear error
            os.utime(path)
        return path

    @contextlib.contextmanager
    def lock(self, key: str, timeout_s: float = -1) -> Iterator[None]:
        """Hold `key`'s lock across processes (wait forever by default)."""
        lock_path = self._lock_path(key)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path), timeout=timeout_s):
            yield

    @contextlib.contextmanager
    def wait_for(self, key: str, on_wait: Callable[[], None], poll_s: float = 1.0) -> Iterator[None]:
        """Hold `key`'s lock; while another process holds it, call `on_wait` every `poll_s` (it may raise to
        stop waiting, e.g. on cancel)."""
        lock_path = self._lock_path(key)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        while True:
            try:
                lock.acquire(timeout=poll_s)
                break
            except Timeout:
                on_wait()
        try:
            yield
        finally:
            lock.release()

    # ---- writing
    def new_build_dir(self, key: str) -> Path:
        """A private, unique folder to build `key` in (published by `publish`, else removed by `discard`)."""
        folder = self.root / _BUILDING / f"{key}.{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        return folder

    def discard(self, build_dir: Path) -> None:
        shutil.rmtree(build_dir, ignore_errors=True)

    def publish(self, key: str, build_dir: Path) -> Path:
        """Move a finished build onto its final name with one rename, then evict down to the cap.

        The final name does not exist yet (the caller holds the key's lock and found no result); if another
        process published it anyway (e.g. after its lock file was evicted), that result is kept and ours dropped.
        """
        target = self.path(key)
        try:
            os.rename(build_dir, target)  # atomic: the folder appears complete or not at all
        except OSError:
            if not (target / COMPLETE_MARKER).is_file():
                raise
            self.discard(build_dir)
        os.utime(target)
        self.evict(keep={key})
        return target

    def entries(self) -> list[CacheEntry]:
        """Published runs, most recently used first."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            if path.name.startswith(".") or not path.is_dir():
                continue
            with contextlib.suppress(OSError):
                found.append(CacheEntry(path.name, path, _folder_size(path), path.stat().st_mtime))
        return sorted(found, key=lambda e: e.last_used, reverse=True)

    def evict(self, keep: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
        """Remove least recently used runs until the rest fits the cap; runs in `keep` or in use stay."""
        self._remove_stale_builds()
        entries = self.entries()
        used = sum(e.size for e in entries)
        removed: list[str] = []
        for entry in reversed(entries):  # least recently used first
            if used <= self.cap_bytes:
                break
            if entry.key in keep:
                continue
            if self._remove(entry.key):
                used -= entry.size
                removed.append(entry.key)
        return removed

    def clear(self) -> tuple[int, int]:
        """Remove every run not being built or read under its lock right now: (runs removed, bytes freed)."""
        count = freed = 0
        for entry in self.entries():
            if self._remove(entry.key):
                count += 1
                freed += entry.size
        self._remove_stale_builds()  # never a build in progress: other processes may be writing them
        return count, freed

    def status(self) -> CacheStatus:
        entries = tuple(self.entries())
        return CacheStatus(self.root, self.cap_bytes, sum(e.size for e in entries), entries)

    def _remove(self, key: str) -> bool:
        """Take the run off its published name (one rename), then delete it; skip a key another process holds."""
        try:
            with self.lock(key, timeout_s=0):
                trash = self.root / _BUILDING / f"{key}.deleted.{uuid.uuid4().hex}"
                trash.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(self.path(key), trash)
                except FileNotFoundError:
                    return False
                shutil.rmtree(trash, ignore_errors=True)
        except Timeout:
            return False
        with contextlib.suppress(OSError):
            self._lock_path(key).unlink()
        return True

    def _remove_stale_builds(self, max_age_s: float = _STALE_BUILD_S) -> None:
        building = self.root / _BUILDING
        if not building.is_dir():
            return
        now = time.time()
        for folder in building.iterdir():
            with contextlib.suppress(OSError):
                if now - folder.stat().st_mtime >= max_age_s:
                    shutil.rmtree(folder, ignore_errors=True)


def cache_bytes(cache_gb: float) -> int:
    """The cap in bytes; InputError for a cap that is not a number of GB >= 0."""
    if not math.isfinite(cache_gb) or cache_gb < 0:
        raise InputError(f"LART_DEMO_CACHE_GB={cache_gb} is not a size in GB (use a number >= 0, e.g. 20).")
    return int(cache_gb * 1e9)
