"""Runs the stages end to end: source -> clip -> people in 3D -> tracks -> appearance -> actions -> render + exports.

Used by the CLI (`analyze_to_folder`) and the app (`run_analysis`). Models load lazily, once per
weights folder and device. Results are cached by the clip's content hash plus every option that
changes them, so the same upload twice returns at once. A `cancel` event is checked between batches.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from lart_demo.config import Settings
from lart_demo.contracts import Clip
from lart_demo.pipeline.analysis import analyze_clip
from lart_demo.pipeline.cache import cache_key
from lart_demo.pipeline.cache_store import RunCache, cache_bytes
from lart_demo.pipeline.request import AnalysisRequest, RunOutput, load_run_output
from lart_demo.progress import ProgressFn, checked, no_progress
from lart_demo.video.sources import resolve_source

log = logging.getLogger(__name__)


def run_analysis(
    request: AnalysisRequest, progress: ProgressFn = no_progress, cancel: threading.Event | None = None
) -> RunOutput:
    """Analyse one source into `<output_dir>/runs/<cache key>/` (or return the cached run)."""
    report = checked(progress, cancel)
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
    settings = request.settings
    key = cache_key(clip.path, request.settings, request.start_s, request.end_s, request.render)
    cache = RunCache(settings.output_dir, cache_bytes(settings.cache_gb))
    # one process computes a key; another asking for it waits here and then reuses the result
    with cache.wait_for(key, on_wait=lambda: report("Waiting for another process analysing the same clip", 0, None)):
        found = cache.lookup(key)
        if found is not None:
            out = load_run_output(found)
            out.cached = True
            return out
        # a private folder, published by one rename: a cancelled or failed run leaves no half-written results
        build_dir = cache.new_build_dir(key)
        try:
            t0 = time.monotonic()
            analyze_clip(clip, request, build_dir, report)
            log.info("analysis of %s took %.1f s", request.source, time.monotonic() - t0)
            return load_run_output(cache.publish(key, build_dir))
        finally:
            cache.discard(build_dir)  # a no-op once published


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
