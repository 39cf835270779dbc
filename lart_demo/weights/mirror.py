"""`weights mirror`: copy every origin file to a Hub repo the user controls, and pin what was copied."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lart_demo.atomic import atomic_write_bytes
from lart_demo.config import Settings, settings_from_env
from lart_demo.errors import WeightsError
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import MANIFEST_PATH, Manifest, ManifestFile, load_manifest
from lart_demo.weights.verify import sha256_of, verify_file

# upload(local_file, path_in_repo, repo_id) -> id of the commit it made (None when unknown)
Uploader = Callable[[Path, str, str], "str | None"]


@dataclass(frozen=True)
class MirrorItem:
    path_in_repo: str
    local_path: Path
    size: int
    sha256: str
    commit: str | None  # the Hub commit that added it; the last one is the revision to pin


def plan_mirror(manifest: Manifest) -> tuple[list[ManifestFile], list[ManifestFile]]:
    """(files to copy, files never copied). Licensed files (SMPL) are never mirrored."""
    copy = [e for e in manifest.files if e.licensed is None]
    skip = [e for e in manifest.files if e.licensed is not None]
    return copy, skip


def _hf_uploader(token: str | None) -> Callable[[str], Uploader]:
    def for_repo(repo_id: str) -> Uploader:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", exist_ok=True)

        def upload(local: Path, path_in_repo: str, repo: str) -> str | None:
            info = api.upload_file(
                path_or_fileobj=str(local), path_in_repo=path_in_repo, repo_id=repo, repo_type="model"
            )
            return getattr(info, "oid", None)

        return upload

    return for_repo


def mirror_weights(
    to_repo: str,
    token: str | None,
    *,
    settings: Settings | None = None,
    manifest: Manifest | None = None,
    uploader: Uploader | None = None,
    progress: ProgressFn = no_progress,
) -> list[MirrorItem]:
    """Download every non-licensed file from its ORIGIN (never from the Hub) and upload it to `to_repo`.

    Returns what was uploaded with sizes and sha256, to pin in the manifest. Refuses random weights.
    """
    settings = settings or settings_from_env()
    manifest = manifest or load_manifest()
    if not to_repo or "/" not in to_repo:
        raise WeightsError(f"--to needs a Hub repo id like 'user/lart-demo-weights', not {to_repo!r}.")
    weights_dir = Path(settings.weights_dir)
    if WeightFiles(weights_dir).is_random():
        raise WeightsError(f"{weights_dir} holds random weights; refusing to mirror them to {to_repo}.")
    copy, _skip = plan_mirror(manifest)
    origin_only = settings.with_overrides(hf_repo="")  # empty repo: the Hub is skipped
    download_weights(origin_only, progress=progress, manifest=manifest, only=[e.id for e in copy], hub_download=None)
    upload = uploader or _hf_uploader(token)(to_repo)
    items = []
    for entry in copy:
        local = entry.target(weights_dir)
        verify_file(local, entry)
        size, digest = local.stat().st_size, sha256_of(local)
        commit = upload(local, entry.path, to_repo)
        items.append(MirrorItem(entry.path, local, size, digest, commit))
    return items


def pin_manifest(items: Sequence[MirrorItem], path: Path | None = None) -> Path:
    """Record the mirrored files' sizes and sha256 in the manifest, so later downloads verify them."""
    path = MANIFEST_PATH if path is None else Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    by_path = {item.path_in_repo: item for item in items}
    for entry in data["files"]:
        item = by_path.get(entry["path"])
        if item is not None:
            prefix = entry.get("sha256_prefix")
            if prefix and not item.sha256.startswith(prefix):
                raise WeightsError(f"{item.path_in_repo}: sha256 {item.sha256[:16]}... does not start with {prefix}.")
            entry["size"], entry["sha256"] = item.size, item.sha256
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path
