"""Is a file the one the manifest describes? Size, sha256 and a structural check per file kind."""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lart_demo.errors import WeightsError
from lart_demo.safe_load import PICKLE_KINDS, load_npy, load_pickle
from lart_demo.weights.manifest import ManifestFile

CHUNK = 1 << 20


def size_problem(entry: ManifestFile, size: int) -> str | None:
    """Why a file of `size` bytes cannot be the entry's file, or None."""
    if entry.size is not None and size != entry.size:
        return f"wrong size: {size} bytes, expected {entry.size}"
    if size == 0:
        return "empty file"
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"  # torch.save before 1.6: pickle protocol 2 starting with a magic long


def _check_content(path: Path, check: dict[str, Any]) -> None:
    """Structural check for files whose hash is unknown: catches error pages, truncation, wrong files."""
    kind = check.get("kind")
    name = path.name
    try:
        if kind == "torch":
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    if not any(n.endswith("data.pkl") for n in zf.namelist()):
                        raise ValueError("a zip file without a torch data.pkl")
                    bad = zf.testzip() if path.stat().st_size < (64 << 20) else None  # CRC check on small files
                    if bad:
                        raise ValueError(f"corrupt member {bad}")
            else:
                with path.open("rb") as fh:
                    if fh.read(4) != _TORCH_LEGACY_MAGIC:
                        raise ValueError("not a torch checkpoint (neither zip nor legacy format)")
        elif kind == "yaml":
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a YAML mapping")
        elif kind == "npz":
            with np.load(path, allow_pickle=False) as data:
                lacking = [k for k in check.get("keys", []) if k not in data.files]
            if lacking:
                raise ValueError(f"lacks arrays {lacking}")
        elif kind in ("npy", "pickle"):
            # read fully through the file's own allow-list: a payload is refused here, at download time
            loader = PICKLE_KINDS.get(check.get("loader", ""))
            if loader is None:
                raise ValueError(f"the manifest names no known loader for this {kind} file")
            (load_npy if kind == "npy" else load_pickle)(path, loader)
        elif kind == "json":
            json.loads(path.read_text(encoding="utf-8"))
        elif kind == "smpl":
            # models.smpl loads torch: only checking an SMPL file needs it
            from lart_demo.models.smpl import load_smpl_pickle

            load_smpl_pickle(path)
        elif kind:
            raise ValueError(f"unknown check kind {kind!r} in the manifest")
    except WeightsError:
        raise
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"{name} is not a valid {kind} file ({exc}); the server may have sent an error page."
        ) from exc
    except Exception as exc:  # yaml.YAMLError and friends: report, never hide
        raise WeightsError(f"{name} is not a valid {kind} file ({type(exc).__name__}: {exc}).") from exc


def verify_file(path: Path, entry: ManifestFile, *, released: bool = True) -> None:
    """Raise WeightsError unless `path` passes the entry's content check and, for `released` files,
    its size and sha256 (or sha256 prefix). Random weights (`released=False`) only get the content check."""
    size = path.stat().st_size
    problem = size_problem(entry, size) if released else None
    if problem:
        raise WeightsError(f"{entry.path}: {problem}.")
    if released and (entry.sha256 or entry.sha256_prefix):
        digest = sha256_of(path)
        expected = entry.sha256 or entry.sha256_prefix or ""
        if not digest.startswith(expected.lower()):
            raise WeightsError(f"{entry.path}: sha256 mismatch (got {digest[:16]}..., expected {expected[:16]}...).")
    if entry.check:
        _check_content(path, entry.check)
