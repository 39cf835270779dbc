"""Runs the stages end to end: source -> clip -> people in 3D -> tracks -> appearance -> actions -> render + exports.

Used by the CLI (`analyze_to_folder`) and the app (`run_analysis`). Models load lazily, once per
weights folder and device. Results are cached by the clip's content hash plus every option that
changes them, so the same upload twice returns at once. A `cancel` event is checked between batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lart_demo.config import Settings
from lart_demo.contracts import ProgressFn, no_progress
from lart_demo.errors import LartDemoError
from lart_demo.pipeline.timeline import PersonTimeline

if TYPE_CHECKING:
    from lart_demo.video.io import Clip

log = logging.getLogger(__name__)

CACHE_VERSION = "2"  # 2: actions.csv random_weights column, marked video, flagged tracks.pkl


class Cancelled(LartDemoError):
    """The user cancelled the run."""

    def __init__(self) -> None:
        super().__init__("Cancelled: the analysis was stopped before it finished.")


@dataclass(frozen=True)
class AnalysisRequest:
    source: str  # a local path (video, frames folder/zip) or a YouTube link
    settings: Settings
    start_s: float | None = None
    end_s: float | None = None
    render: bool = True


@dataclass
class RunOutput:
    out_dir: Path
    video: Path | None
    results_json: Path
    actions_csv: Path
    tracks_pkl: Path
    timelines: list[PersonTimeline]
    action_names: list[str]
    fps: float
    n_frames: int
    random_weights: bool
    notes: list[str] = field(default_factory=list)
    cached: bool = False

    def downloads(self) -> list[Path]:
        files = [self.video] if self.video else []
        return files + [self.results_json, self.actions_csv, self.tracks_pkl]


Runner = Callable[[AnalysisRequest, ProgressFn, threading.Event], RunOutput]


def _checked(progress: ProgressFn, cancel: threading.Event | None) -> ProgressFn:
    def report(stage: str, done: int, total: int | None) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        progress(stage, done, total)

    return report


def _file_digest(path: Path) -> str:
    """sha256 of a file, or of a frames folder (every file's relative name and content, in name order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def cache_key(clip_path: Path, request: AnalysisRequest) -> str:
    """Content hash of the clip + every setting that changes the outputs."""
    s = request.settings
    options = {
        "v": CACHE_VERSION,
        "start": request.start_s,
        "end": request.end_s,
        "render": request.render,
        "weights": str(Path(s.weights_dir).resolve()),
        **{
            k: getattr(s, k)
            for k in (
                "max_duration_s",
                "max_side",
                "processing_fps",
                "max_people",
                "min_box_w",
                "min_box_h",
                "detector_threshold",
                "labels_per_person",
                "min_label_prob",
                "render_style",
                "mesh_opacity",
                "face_blur",
            )
        },
    }
    if s.boxes_file is not None:
        options["boxes"] = _file_digest(Path(s.boxes_file))
    blob = _file_digest(clip_path) + json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def run_analysis(
    request: AnalysisRequest, progress: ProgressFn = no_progress, cancel: threading.Event | None = None
) -> RunOutput:
    """Analyse one source into `<output_dir>/runs/<cache key>/` (or return the cached run)."""
    from lart_demo.video.sources import resolve_source

    report = _checked(progress, cancel)
    settings = request.settings
    work = Path(settings.output_dir) / "work"
    work.mkdir(parents=True, exist_ok=True)
    report("Reading the video", 0, None)
    clip = resolve_source(request.source, settings, work, start_s=request.start_s, end_s=request.end_s)
    try:
        return _analyze_or_reuse(clip, request, report)
    finally:
        if clip.source == "youtube" and work.resolve() in clip.path.resolve().parents:
            shutil.rmtree(clip.path.parent, ignore_errors=True)  # the download is not needed once analysed


def _analyze_or_reuse(clip: Clip, request: AnalysisRequest, report: ProgressFn) -> RunOutput:
    from lart_demo.pipeline.analysis import analyze_clip, load_run_output

    key = cache_key(clip.path, request)
    out_dir = Path(request.settings.output_dir) / "runs" / key
    if (out_dir / "results.json").is_file():
        out = load_run_output(out_dir)
        out.cached = True
        return out
    # build in a private folder and rename at the end: a cancelled or failed run leaves no half-written results
    tmp_dir = out_dir.with_name(out_dir.name + f".tmp{threading.get_ident()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    try:
        t0 = time.monotonic()
        analyze_clip(clip, request, tmp_dir, report)
        log.info("analysis of %s took %.1f s", request.source, time.monotonic() - t0)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp_dir.rename(out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return load_run_output(out_dir)


def analyze_to_folder(
    source: str,
    out_dir: Path,
    settings: Settings,
    start_s: float | None = None,
    end_s: float | None = None,
    render: bool = True,
    progress: ProgressFn = no_progress,
) -> Path:
    """CLI entry: run the analysis and copy its files into `out_dir`."""
    out = run_analysis(AnalysisRequest(source, settings, start_s, end_s, render), progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in out.out_dir.iterdir():
        target = out_dir / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)
    return out_dir
