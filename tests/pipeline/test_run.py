"""The orchestration end to end on a short synthetic clip (a folder of frames) with tiny random weights and
known boxes: stage order, the Result it writes, cache reuse, and cancel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from lart_demo.config import Settings
from lart_demo.pipeline.request import AnalysisRequest
from lart_demo.pipeline.results import read_result_json
from lart_demo.pipeline.run import run_analysis
from lart_demo.progress import Cancelled
from lart_demo.stages.tracking.tracks import read_results

pytestmark = pytest.mark.slow  # every test runs the whole pipeline (tens of seconds on 2 cores)

N_FRAMES, H, W = 14, 160, 224
STEPS = (
    "Reading the video",
    "Loading models",
    "Finding and tracking people (detector, HMR2.0, PHALP)",
    "Appearance features (MViT)",
    "Recognising actions (LART)",
    "Rendering video",
)


def _boxes(i: int) -> list[list[float]]:
    """Two people drifting apart; the second is not seen in frames 6 and 7 (LART in-fills it)."""
    first = [20.0 + i, 20.0, 80.0 + i, 150.0, 0.95]
    second = [140.0 - i, 15.0, 200.0 - i, 150.0, 0.9]
    return [first] if i in (6, 7) else [first, second]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("scene")
    frames = root / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_FRAMES):
        image = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
        for x1, y1, x2, y2, _ in _boxes(i):
            image[int(y1) : int(y2), int(x1) : int(x2)] = (200, 120 + 5 * i, 90)
        cv2.imwrite(str(frames / f"{i:04d}.png"), image)
    boxes = root / "boxes.json"
    boxes.write_text(json.dumps({"frames": {str(i): _boxes(i) for i in range(N_FRAMES)}}))
    return frames, boxes


@pytest.fixture()
def settings(tiny_weights: Path, scene: tuple[Path, Path], tmp_path: Path) -> Settings:
    return Settings(
        weights_dir=tiny_weights,
        device="cpu",
        boxes_file=scene[1],
        min_box_w=10,
        min_box_h=20,
        render_backend="cpu",
        output_dir=tmp_path / "outputs",
    )


class Recorder:
    def __init__(self, cancel_at: str | None = None, cancel: threading.Event | None = None) -> None:
        self.steps: list[str] = []
        self.cancel_at, self.cancel = cancel_at, cancel

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if not self.steps or self.steps[-1] != step:
            self.steps.append(step)
        if step == self.cancel_at and self.cancel is not None:
            self.cancel.set()


def test_stages_run_in_order_and_write_the_result(settings: Settings, scene: tuple[Path, Path]) -> None:
    progress = Recorder()
    out = run_analysis(AnalysisRequest(str(scene[0]), settings), progress)
    assert tuple(s for s in progress.steps if not s.startswith("Estimate")) == STEPS  # estimates come between
    assert not out.cached and out.random_weights and out.n_frames == N_FRAMES
    assert {p.name for p in out.downloads()} >= {"render.mp4", "results.json", "actions.csv", "tracks.pkl"}

    result = read_result_json(out.results_json)
    assert result.clip.n_frames == N_FRAMES and (result.clip.width, result.clip.height) == (W, H)
    assert [t.track_id for t in result.tracks] == [t.track_id for t in out.timelines] and len(result.tracks) == 2
    assert set(result.timings_s) >= {"load_models", "people_and_tracking", "appearance", "actions", "render"}
    for track in result.tracks:
        assert track.action_probs is not None and track.action_probs.shape == (len(track.frames), 60)
        assert np.isfinite(track.action_probs).all()
        detected = track.boxes_xyxy[track.has_detection]
        assert np.isfinite(detected).all() and np.isnan(track.boxes_xyxy[~track.has_detection]).all()
        assert track.thumbnail and (out.out_dir / track.thumbnail).is_file()
    assert result.files["tracks_pkl"] == "tracks.pkl" and result.files["video"] == "render.mp4"

    # tracks.pkl: LART's labels on every listed frame of a track's span, in-filled ghosts marked -1
    pkl = read_results(out.tracks_pkl)
    assert len(pkl) == N_FRAMES
    for frame in pkl.values():
        for tid, tracked_time in zip(frame["tid"], frame["tracked_time"], strict=True):
            assert tracked_time <= 0 or tid not in frame["label"]
            if tid in frame["label"]:
                assert len(frame["label"][tid]) == 3 and frame["ava_action"][tid].shape == (1, 60)


def test_the_same_request_is_served_from_the_cache(settings: Settings, scene: tuple[Path, Path]) -> None:
    request = AnalysisRequest(str(scene[0]), settings, render=False)
    first = run_analysis(request)
    progress = Recorder()
    again = run_analysis(request, progress)
    assert again.cached and again.out_dir == first.out_dir
    assert progress.steps == ["Reading the video"]  # no model loads, no stage runs
    other = run_analysis(AnalysisRequest(str(scene[0]), settings.with_overrides(max_people=1), render=False))
    assert not other.cached and other.out_dir != first.out_dir and len(other.timelines) == 1


def test_cancel_stops_the_run_and_leaves_no_partial_folder(settings: Settings, scene: tuple[Path, Path]) -> None:
    cancel = threading.Event()
    progress = Recorder(cancel_at="Appearance features (MViT)", cancel=cancel)
    with pytest.raises(Cancelled):
        run_analysis(AnalysisRequest(str(scene[0]), settings), progress, cancel)
    assert "Rendering video" not in progress.steps
    runs = Path(settings.output_dir) / "runs"
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] == []  # nothing was published
    assert not any((runs / ".building").iterdir())  # and the private build folder is gone
