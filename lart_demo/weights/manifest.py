"""The manifest: every file the app needs, where it goes in the weights folder and where it comes from.

`weights/manifest.json` (tracked) lists each file's path inside the weights folder, its sources in
order, size and sha256 where known, licence and the stages that need it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lart_demo.config import Settings
from lart_demo.errors import WeightsError

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"


@dataclass(frozen=True)
class Source:
    """One place a file can come from: a Hub path, an origin URL, or a member of an origin archive."""

    hub: str | None = None
    url: str | None = None
    archive: str | None = None
    member: str | None = None

    def describe(self, settings: Settings | None = None, archives: dict[str, Archive] | None = None) -> str:
        if self.hub is not None:
            repo = settings.hf_repo if settings else "<hf_repo>"
            rev = settings.hf_revision if settings else "<revision>"
            return f"hf://{repo}@{rev}/{self.hub}"
        if self.url is not None:
            return self.url
        archive = (archives or {}).get(self.archive or "")
        where = archive.urls[0] if archive and archive.urls else self.archive
        return f"{where} (member {self.member})"


@dataclass(frozen=True)
class Archive:
    id: str
    urls: tuple[str, ...]  # hosts in the order they are tried; the archive is streamed, never stored
    description: str = ""


@dataclass(frozen=True)
class ManifestFile:
    id: str  # equals the WeightFiles property naming the same path
    path: str  # relative to the weights folder, '/'-separated
    description: str
    required_for: tuple[str, ...]
    license: str
    sources: tuple[Source, ...]
    size: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    check: dict[str, Any] = field(default_factory=dict)
    licensed: str | None = None  # "smpl": needs the user's licence acceptance

    def target(self, weights_dir: Path) -> Path:
        return weights_dir / self.path


@dataclass(frozen=True)
class Manifest:
    files: tuple[ManifestFile, ...]
    archives: dict[str, Archive]
    stages: dict[str, str]

    def file(self, file_id: str) -> ManifestFile:
        for entry in self.files:
            if entry.id == file_id:
                return entry
        raise KeyError(file_id)


def load_manifest(path: Path | None = None) -> Manifest:
    """Parse and validate a manifest (default: the tracked `weights/manifest.json`)."""
    path = MANIFEST_PATH if path is None else Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"Cannot read the weights manifest {path}: {exc}") from exc
    archives = {
        key: Archive(key, tuple(a["urls"]), a.get("description", "")) for key, a in raw.get("archives", {}).items()
    }
    stages = dict(raw.get("stages", {}))
    files = []
    for item in raw["files"]:
        sources = tuple(Source(**src) for src in item["sources"])
        for src in sources:
            if src.archive is not None and (src.archive not in archives or not src.member):
                raise WeightsError(f"Manifest entry {item['id']} names an unknown archive {src.archive!r}.")
        unknown_stages = set(item["required_for"]) - set(stages) if stages else set()
        if unknown_stages:
            raise WeightsError(f"Manifest entry {item['id']} names unknown stages {sorted(unknown_stages)}.")
        files.append(
            ManifestFile(
                id=item["id"],
                path=item["path"],
                description=item.get("description", ""),
                required_for=tuple(item["required_for"]),
                license=item.get("license", "unknown"),
                sources=sources,
                size=item.get("size"),
                sha256=item.get("sha256"),
                sha256_prefix=item.get("sha256_prefix"),
                check=dict(item.get("check") or {}),
                licensed=item.get("licensed"),
            )
        )
    return Manifest(tuple(files), archives, stages)
