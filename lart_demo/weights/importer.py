"""`weights import`: take the files from an existing PHALP / 4D-Humans / LART install instead of downloading.

Upstream installs keep them under `~/.cache/phalp/{3D,weights,ava}`, `~/.cache/4DHumans/...` and
torch hub's checkpoint cache, some under other names (PHALP saves the pose predictor as
`pose_predictor.pth` / `.yaml`). Each candidate is verified like a download, then hard-linked (or
copied) into the weights folder and recorded in the lock file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lart_demo.config import Settings
from lart_demo.errors import WeightsError
from lart_demo.weights import lock
from lart_demo.weights.fetch import check_against_lock
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import Manifest, ManifestFile, load_manifest
from lart_demo.weights.smpl import add_smpl
from lart_demo.weights.verify import verify_file

# file names upstream installs use, beyond the name the file has in our folder
UPSTREAM_NAMES: dict[str, tuple[str, ...]] = {
    "pose_predictor_checkpoint": ("pose_predictor.pth",),
    "pose_predictor_config": ("pose_predictor.yaml",),
    "ava_class_mapping": ("ava_class_mappping.pkl",),  # sic: the hosts spell it with three p
    "smpl_neutral": ("basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",),
}
_MAX_DEPTH = 8  # a user's DIR is searched this deep, no further


def upstream_locations(home: Path | None = None) -> list[Path]:
    """Where PHALP, 4D-Humans and torch hub keep their downloads (searched by `weights import` with no DIR)."""
    home = Path.home() if home is None else home
    torch_home = Path(os.environ.get("TORCH_HOME", home / ".cache" / "torch"))
    return [
        home / ".cache" / "phalp",
        home / ".cache" / "4DHumans" / "logs" / "train" / "multiruns" / "hmr2" / "0",
        home / ".cache" / "4DHumans" / "data",
        torch_home / "hub" / "checkpoints",
    ]


@dataclass(frozen=True)
class ImportReport:
    found: list[tuple[str, Path]]  # (our path inside the weights folder, where it came from)
    already: list[str]  # already in the weights folder
    missing: list[str]  # not found anywhere (or every candidate failed verification)
    rejected: list[str]  # "candidate: why" for candidates that failed verification


def _names(entry: ManifestFile) -> set[str]:
    return {Path(entry.path).name, *UPSTREAM_NAMES.get(entry.id, ())}


def _walk(root: Path) -> Iterator[Path]:
    base = len(root.parts)
    for folder, dirs, files in os.walk(root):
        if len(Path(folder).parts) - base >= _MAX_DEPTH:
            dirs.clear()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            yield Path(folder) / name


def _candidates(roots: Sequence[Path], manifest: Manifest) -> dict[str, list[Path]]:
    by_name: dict[str, list[str]] = {}
    for entry in manifest.files:
        for name in _names(entry):
            by_name.setdefault(name, []).append(entry.id)
    found: dict[str, list[Path]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for path in _walk(root):
            for file_id in by_name.get(path.name, ()):
                found.setdefault(file_id, []).append(path)
    return found


def _link_or_copy(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.import")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)  # no second copy of a multi-GB file when both are on one filesystem
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, target)


def import_weights(settings: Settings, dirs: Sequence[Path] = (), *, manifest: Manifest | None = None) -> ImportReport:
    """Verify and bring in every missing file found in `dirs` (default: the upstream cache locations)."""
    manifest = manifest or load_manifest()
    files = WeightFiles(Path(settings.weights_dir))
    if files.is_random():
        raise WeightsError(f"{files.root} holds random weights; import into another folder (--weights DIR).")
    roots = [Path(d).expanduser() for d in dirs] or upstream_locations()
    absent = [d for d in dirs if not Path(d).expanduser().is_dir()]
    if absent:
        raise WeightsError(f"Not a folder: {', '.join(map(str, absent))}.")
    candidates = _candidates(roots, manifest)
    found: list[tuple[str, Path]] = []
    already: list[str] = []
    missing: list[str] = []
    rejected: list[str] = []
    for entry in manifest.files:
        target = files.smpl_neutral_clean if entry.licensed == "smpl" else entry.target(files.root)
        if target.is_file():
            already.append(entry.path)
            continue
        for candidate in candidates.get(entry.id, []):
            try:
                if entry.licensed == "smpl":
                    add_smpl(candidate, files.root)
                else:
                    verify_file(candidate, entry)
                    digest = check_against_lock(candidate, entry, files.root)
                    _link_or_copy(candidate, target)
                    lock.record(files.root, entry.path, digest)
            except WeightsError as exc:
                rejected.append(f"{candidate}: {exc}")
                continue
            found.append((entry.path, candidate))
            break
        else:
            missing.append(entry.path)
    return ImportReport(found, already, missing, rejected)
