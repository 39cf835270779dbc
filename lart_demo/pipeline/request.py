"""What a run is asked for (`AnalysisRequest`) and what it hands back (`RunOutput`, read from its folder)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lart_demo.config import Settings
from lart_demo.pipeline.results import read_result_json
from lart_demo.pipeline.timeline import PersonTimeline
from lart_demo.progress import ProgressFn
from lart_demo.render.colors import track_color


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
    exports: list[Path] = field(default_factory=list)  # BVH, AMASS npz, captions, events, AVA csv (lart_demo.exports)

    def downloads(self) -> list[Path]:
        files = [self.video] if self.video else []
        return files + [self.results_json, self.actions_csv, self.tracks_pkl, *self.exports]


Runner = Callable[[AnalysisRequest, ProgressFn, threading.Event], RunOutput]


def _data_url(path: Path) -> str | None:
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


_CORE_FILES = ("video", "tracks_pkl", "actions_csv")  # the RunOutput fields of their own; the rest are exports


def load_run_output(out_dir: Path) -> RunOutput:
    """A finished run folder as the app and CLI see it."""
    result = read_result_json(out_dir / "results.json")
    timelines = [
        PersonTimeline(
            track_id=t.track_id,
            color=_hex(track_color(t.color_index)),
            frames=t.frames,
            probs=t.action_probs if t.action_probs is not None else np.zeros((len(t.frames), len(result.action_names))),
            thumbnail=_data_url(out_dir / t.thumbnail) if t.thumbnail else None,
        )
        for t in result.tracks
    ]
    video = out_dir / result.files["video"] if "video" in result.files else None
    return RunOutput(
        out_dir=out_dir,
        video=video,
        results_json=out_dir / "results.json",
        actions_csv=out_dir / "actions.csv",
        tracks_pkl=out_dir / "tracks.pkl",
        timelines=timelines,
        action_names=list(result.action_names),
        fps=result.clip.fps,
        n_frames=result.clip.n_frames,
        random_weights=result.random_weights,
        notes=list(result.clip.caps_applied) + list(result.notes),
        exports=[out_dir / name for role, name in result.files.items() if role not in _CORE_FILES],
    )
