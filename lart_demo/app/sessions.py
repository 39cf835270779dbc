"""Which finished runs a browser session may search: run tokens, and a small memory of loaded runs.

A run token is `<run id>.<HMAC of session + run id>`, keyed by a secret kept in the output folder. Only the
session that ran (or was served) a run holds a token that verifies for it, so segment search never reads
another session's run, and tokens keep working after a restart (the secret and the run folders are on
disk). Nothing is remembered per session: finished runs are loaded from the cache by run id and only the
most recently used few are kept in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

from lart_demo.errors import LartDemoError
from lart_demo.pipeline.request import RunOutput

SECRET_FILE = ".run_token_key"
LOADED_RUNS = 8  # finished runs kept in memory for segment search; the rest are re-read from disk


def _secret(output_dir: Path) -> bytes:
    """The output folder's token key, created once (by whichever process comes first)."""
    path = Path(output_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be writing it right now
        key = path.read_text().strip()
        if key:
            return bytes.fromhex(key)
    raise LartDemoError(f"The token key {path} is empty; delete it and restart the app.")


class RunTokens:
    """Signs run ids for a session and checks them."""

    def __init__(self, output_dir: Path) -> None:
        self._key = _secret(output_dir)

    def _mac(self, session: str, run_id: str) -> str:
        return hmac.new(self._key, f"{session}\0{run_id}".encode(), hashlib.sha256).hexdigest()[:32]

    def token(self, session: str, run_id: str) -> str:
        return f"{run_id}.{self._mac(session, run_id)}"

    def run_id(self, session: str, token: str | None) -> str | None:
        """The run id of a token issued to `session`, else None (another session's, forged, or empty)."""
        run_id, _, mac = (token or "").rpartition(".")
        if not run_id or not hmac.compare_digest(mac, self._mac(session, run_id)):
            return None
        return run_id


class LoadedRuns:
    """The most recently used finished runs, by run id (a bounded LRU)."""

    def __init__(self, size: int = LOADED_RUNS) -> None:
        self.size = size
        self._runs: OrderedDict[str, RunOutput] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, run_id: str, out: RunOutput) -> None:
        with self._lock:
            self._runs[run_id] = out
            self._runs.move_to_end(run_id)
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)

    def get(self, run_id: str) -> RunOutput | None:
        with self._lock:
            out = self._runs.get(run_id)
            if out is not None:
                self._runs.move_to_end(run_id)
            return out

    def __len__(self) -> int:
        return len(self._runs)
