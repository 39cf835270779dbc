"""What a batch works on: INPUT arguments -> one `BatchInput` per video or YouTube link.

An INPUT is a video file, a folder (searched recursively for video files), or a .txt list with one video path,
folder or YouTube link per line (blank lines and `#` comments are ignored; relative paths are relative to the
list's folder). Anything that cannot be processed (a missing file, a bad link, an empty folder) becomes an input
with an `error`, so the batch records it as failed and carries on with the rest.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lart_demo.errors import InputError
from lart_demo.pipeline.cache import file_sha256
from lart_demo.video.io import VIDEO_EXTENSIONS
from lart_demo.video.sources import canonical_youtube_url, looks_like_url, youtube_video_id

LIST_SUFFIX = ".txt"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_CHARS = 60  # the stem part of a result folder's name; the hash keeps names unique


@dataclass(frozen=True)
class BatchInput:
    label: str  # as the user wrote it (batch.csv's `input` column)
    source: str  # what the pipeline opens: an absolute path or the canonical YouTube link
    youtube_id: str | None = None
    error: str | None = None  # why it cannot be processed; recorded as failed

    @property
    def path(self) -> Path | None:
        return None if self.youtube_id or self.error else Path(self.source)


def _video_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Video files below `folder` in name order; hidden entries and the batch's own output folder are skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):  # os.walk does not follow symlinked folders: no loops
        here = Path(root)
        if exclude is not None and here.resolve() == exclude:
            dirs.clear()  # the output folder searched as an input: its own videos count, its result folders not
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != exclude)
        found.extend(
            here / f for f in sorted(files) if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS
        )
    return found


def _failed(label: str, reason: str) -> BatchInput:
    return BatchInput(label=label, source=label, error=reason)


def _link(text: str) -> BatchInput:
    try:
        video_id = youtube_video_id(text)
    except InputError as exc:
        return _failed(text, str(exc))
    return BatchInput(label=text, source=canonical_youtube_url(video_id), youtube_id=video_id)


def _read_list(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not a UTF-8 text list of videos and links.") from exc
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _expand_one(text: str, base: Path | None, exclude: Path | None, lists_seen: set[Path]) -> Iterable[BatchInput]:
    if looks_like_url(text):
        yield _link(text)
        return
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    label = str(path)
    if path.is_dir():
        videos = _video_files(path, exclude)
        if not videos:
            kinds = ", ".join(VIDEO_EXTENSIONS)
            yield _failed(label, f"The folder {label} holds no video files ({kinds}).")
        for video in videos:
            yield BatchInput(label=str(video), source=str(video.resolve()))
    elif not path.is_file():
        yield _failed(label, f"{label} is missing.")
    elif path.suffix.lower() == LIST_SUFFIX:
        resolved = path.resolve()
        if resolved in lists_seen:
            return  # a list that includes itself (directly or not) adds nothing new
        lists_seen.add(resolved)
        try:
            entries = _read_list(path)
        except (InputError, OSError) as exc:
            yield _failed(label, str(exc) if isinstance(exc, InputError) else f"{label} could not be read ({exc}).")
            return
        for entry in entries:
            yield from _expand_one(entry, path.parent, exclude, lists_seen)
    elif path.suffix.lower() in VIDEO_EXTENSIONS:
        yield BatchInput(label=label, source=str(path.resolve()))
    else:
        kinds = ", ".join(VIDEO_EXTENSIONS)
        yield _failed(label, f"{label} is neither a video ({kinds}), a folder nor a .txt list.")


def expand_inputs(items: Sequence[str], exclude: Path | None = None) -> list[BatchInput]:
    """Every video and link the INPUTs name, in order, each once. `exclude`: a folder never searched (the output)."""
    exclude = exclude.resolve() if exclude is not None else None
    seen: set[str] = set()
    out: list[BatchInput] = []
    lists_seen: set[Path] = set()
    for item in items:
        for entry in _expand_one(item, None, exclude, lists_seen):
            if entry.error is None and entry.source in seen:
                continue
            seen.add(entry.source)
            out.append(entry)
    return out


def content_digest(item: BatchInput) -> str:
    """What identifies the input's content: the file's bytes, or for YouTube the video id (its bytes are only
    known after the download)."""
    if item.youtube_id is not None:
        return hashlib.sha256(f"youtube:{item.youtube_id}".encode()).hexdigest()
    if item.path is None:
        raise ValueError(f"{item.label} has no content to hash: {item.error}")
    return file_sha256(item.path)  # what the run cache hashes: a file's key equals its run's cache key


def folder_name(item: BatchInput, digest: str) -> str:
    """The input's result folder: a readable, filesystem-safe stem plus a short content hash (stable across runs)."""
    stem = f"youtube-{item.youtube_id}" if item.youtube_id else Path(item.source).stem
    safe = _UNSAFE.sub("_", stem).strip("._-")[:_NAME_CHARS] or "video"
    return f"{safe}-{digest[:10]}"
