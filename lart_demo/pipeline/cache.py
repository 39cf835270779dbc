"""The run cache's key: the clip's content, the request, every setting that changes the output, and the
weights' identity (each file's size and sha256), so swapping files in the same weights folder can never
return results computed with the old ones.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import fields
from pathlib import Path

from lart_demo.config import Settings
from lart_demo.weights.files import WeightFiles

CACHE_VERSION = "3"  # bump when the run folder layout or the key's recipe changes (3: csv flag column, video mark)

_DIGESTS: dict[tuple[str, int, int], str] = {}  # (resolved path, size, mtime_ns) -> sha256
_DIGESTS_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, hashed once per (path, size, mtime) in this process (weights are gigabytes)."""
    path = Path(path).resolve()
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        if memo in _DIGESTS:
            return _DIGESTS[memo]
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _DIGESTS_LOCK:
        _DIGESTS[memo] = digest
    return digest


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a frames folder (every file's relative name and content, in name order)."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode())
        h.update(file_sha256(file).encode())
    return h.hexdigest()


def weight_paths(settings: Settings) -> list[Path]:
    """Every model and asset file the analysis may read: each file `WeightFiles` names, plus the user's SMPL."""
    weights = WeightFiles(Path(settings.weights_dir))
    named = [getattr(weights, name) for name, attr in vars(WeightFiles).items() if isinstance(attr, property)]
    if settings.smpl_path is not None:
        named.append(Path(settings.smpl_path))
    return sorted({p for p in named if p.is_file()})


def weights_identity(settings: Settings) -> dict[str, list[object]]:
    """File name (relative to the weights folder where it lies inside) -> [size, sha256]."""
    root = Path(settings.weights_dir).resolve()
    identity: dict[str, list[object]] = {}
    for path in weight_paths(settings):
        resolved = path.resolve()
        name = str(resolved.relative_to(root)) if root in resolved.parents else str(resolved)
        identity[name] = [resolved.stat().st_size, file_sha256(resolved)]
    return identity


def output_settings(settings: Settings) -> dict[str, object]:
    """The Settings fields marked `affects_output` (config.py), by name."""
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.metadata.get("affects_output")}


def key_options(
    settings: Settings, start_s: float | None = None, end_s: float | None = None, render: bool = True
) -> str:
    """The key's options half (everything but the clip), as canonical JSON; the batch ledger keys on it too."""
    options = {
        "v": CACHE_VERSION,
        "start": start_s,
        "end": end_s,
        "render": render,
        "settings": output_settings(settings),
        "weights": weights_identity(settings),
        "boxes": content_digest(Path(settings.boxes_file)) if settings.boxes_file is not None else None,
    }
    return json.dumps(options, sort_keys=True, default=str)


def key_from_parts(clip_digest: str, options_json: str) -> str:
    return hashlib.sha256((clip_digest + options_json).encode()).hexdigest()[:24]


def cache_key(
    clip_path: Path,
    settings: Settings,
    start_s: float | None = None,
    end_s: float | None = None,
    render: bool = True,
) -> str:
    """Key of a run folder: equal keys mean the run would write the same files."""
    return key_from_parts(content_digest(clip_path), key_options(settings, start_s, end_s, render))
