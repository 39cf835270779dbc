"""What is in the weights folder: present or missing per manifest file, and how to get what is missing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lart_demo.config import Settings
from lart_demo.weights import lock
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import Manifest, ManifestFile, load_manifest
from lart_demo.weights.verify import size_problem, verify_file

SMPL_LICENSE_URL = "https://smpl.is.tue.mpg.de"


@dataclass(frozen=True)
class FileStatus:
    id: str
    path: Path  # where the pipeline reads it (for SMPL: the clean .npz)
    present: bool
    size: int | None  # bytes on disk when present
    detail: str  # "ok", "missing", "wrong size ...", "will be converted from ..."
    required_for: tuple[str, ...]
    license: str
    how_to_get: str  # one line: what the user can do when it is missing


def how_to_get(entry: ManifestFile, settings: Settings, manifest: Manifest | None = None) -> str:
    if entry.licensed == "smpl":
        return (
            f"licensed, never downloaded: register at {SMPL_LICENSE_URL}, download the neutral model "
            "(basicModel_neutral_lbs_10_207_0_v1.0.0.pkl) and run `python -m lart_demo weights add-smpl FILE`"
        )
    archives = manifest.archives if manifest else None
    where = " or ".join(
        src.describe(settings, archives) for src in entry.sources if src.hub is None or settings.hf_repo
    )
    return f"`python -m lart_demo weights download` fetches it from {where}"


def _smpl_status(entry: ManifestFile, settings: Settings, files: WeightFiles, manifest: Manifest) -> FileStatus:
    clean = files.smpl_neutral_clean
    common = dict(id=entry.id, path=clean, required_for=entry.required_for, license=entry.license)
    how = how_to_get(entry, settings, manifest)
    if clean.is_file():
        return FileStatus(present=True, size=clean.stat().st_size, detail="ok", how_to_get="", **common)
    if settings.smpl_path is not None:
        if Path(settings.smpl_path).is_file():
            detail = f"will be converted from {settings.smpl_path} by `weights download` or the first analysis"
            return FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common)
        detail = f"LART_DEMO_SMPL_PATH / --smpl-path points to {settings.smpl_path}, which does not exist"
        return FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common)
    if files.smpl_neutral.is_file():
        detail = f"will be converted from {files.smpl_neutral.name} by `weights download` or the first analysis"
        return FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common)
    return FileStatus(present=False, size=None, detail="missing (licensed)", how_to_get=how, **common)


def weights_status(settings: Settings, manifest: Manifest | None = None) -> list[FileStatus]:
    """One `FileStatus` per manifest file, in manifest order.

    Cheap: sizes, plus a sha256 only for files whose modification time changed since the lock file
    recorded them. A file that no longer matches its lock entry is moved aside and reported missing.
    """
    manifest = manifest or load_manifest()
    files = WeightFiles(Path(settings.weights_dir))
    out = []
    for entry in manifest.files:
        if entry.licensed == "smpl":
            out.append(_smpl_status(entry, settings, files, manifest))
            continue
        target = entry.target(files.root)
        common = dict(id=entry.id, path=target, required_for=entry.required_for, license=entry.license)
        changed = lock.mismatch(files.root, entry.path) if target.is_file() else None
        if changed is not None:
            moved = lock.move_aside(files.root, entry.path)
            detail = f"REFUSED: {changed}; moved to {moved}"
            how = f"{how_to_get(entry, settings, manifest)}; or restore the original file"
            out.append(FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common))
            continue
        if not target.is_file():
            how = how_to_get(entry, settings, manifest)
            out.append(FileStatus(present=False, size=None, detail="missing", how_to_get=how, **common))
            continue
        size = target.stat().st_size
        problem = size_problem(entry, size)
        out.append(
            FileStatus(
                present=problem is None,
                size=size,
                detail=problem or "ok",
                how_to_get=f"delete {target} and run `python -m lart_demo weights download`" if problem else "",
                **common,
            )
        )
    return out


def missing_for(settings: Settings, stages: Iterable[str], manifest: Manifest | None = None) -> list[FileStatus]:
    """Files that the given stages need and that are not ready (for a pipeline pre-flight check)."""
    wanted = set(stages)
    return [s for s in weights_status(settings, manifest) if not s.present and wanted & set(s.required_for)]


AFTER_DOWNLOAD = "check the models with `python -m lart_demo weights verify`"


def missing_weights_advice(weights_dir: Path) -> str:
    """What to do about missing files, in a few sentences (Markdown): for the page's missing-weights panel."""
    return (
        "The first analysis downloads them (your Hub mirror if `LART_DEMO_HF_REPO` is set, then the authors' "
        "hosts), except SMPL, which needs your licence: `python -m lart_demo weights add-smpl FILE`. "
        "Or beforehand: `python -m lart_demo weights download`, or `python -m lart_demo weights import` from an "
        f"existing PHALP / 4D-Humans install, or copy the files by name into `{weights_dir}`; then "
        f"{AFTER_DOWNLOAD} and restart the app to hide this panel. For a quick test without the released models: "
        "`python -m lart_demo weights make-random DIR --profile tiny` and `LART_DEMO_WEIGHTS=DIR`."
    )


def lock_verified_files(settings: Settings, manifest: Manifest | None = None) -> list[str]:
    """Record in the lock file every present file it does not list yet, once it passes its manifest check
    (files copied in by hand are trusted from their first `weights verify`). Random-weight folders are skipped."""
    manifest = manifest or load_manifest()
    files = WeightFiles(Path(settings.weights_dir))
    if files.is_random():
        return []
    known = lock.read_lock(files.root)
    recorded = []
    for entry in manifest.files:
        target = entry.target(files.root)
        if entry.licensed is None and entry.path not in known and target.is_file():
            verify_file(target, entry)
            lock.record(files.root, entry.path)
            recorded.append(entry.path)
    return recorded
