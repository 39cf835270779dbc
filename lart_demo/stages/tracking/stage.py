"""The tracking stage: per-frame people -> identities over time (PHALP), tracks.pkl + tracks.json.

`track_people` consumes `FramePeople` lazily. HMAR (crops -> UV maps) runs on the crops of a window
of frames in one batch; association then runs frame by frame (it is causal: frame t only needs the
tracks after frame t-1). Crops are dropped once their UV map exists, so memory stays bounded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lart_demo.config import Settings
from lart_demo.contracts import FramePeople, Track
from lart_demo.device import resolve_device
from lart_demo.errors import InputError
from lart_demo.models.hmar import HMAR, load_hmar
from lart_demo.models.pose_predictor import load_pose_predictor
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.stages.people import find_people, load_people_models
from lart_demo.stages.tracking.phalp import FrameAssociation, PoseForecaster, Tracker, TrackerConfig
from lart_demo.stages.tracking.tracks import ResultsRecorder, frame_key, tracks_from_results, write_results
from lart_demo.video.io import iter_frames, open_clip
from lart_demo.weights.files import WeightFiles

log = logging.getLogger(__name__)

STAGE_NAME = "Tracking people"


@dataclass
class TrackingModels:
    """What the tracker runs: HMAR (appearance) and the pose transformer, on one device."""

    hmar: HMAR  # .appearance(crops) and .encode_uv(uv)
    pose_predictor: PoseForecaster
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class TrackingResult:
    """The tracker's per-frame records plus what the rest of the app asks about them.

    `results` is PHALP's results layout (tracks.py), kept for the tracks.pkl export; the stages after
    tracking read `tracks()` only.
    """

    results: dict[str, dict[str, Any]]  # frame key -> PHALP frame dict (see tracks.py)
    frame_keys: list[str]
    image_size: tuple[int, int]
    associations: list[FrameAssociation] = field(default_factory=list)

    def track_ids(self) -> list[int]:
        """Confirmed identities, ascending."""
        ids = {int(t) for frame in self.results.values() for t in frame["tracked_ids"]}
        return sorted(ids)

    def boxes_of(self, tid: int) -> dict[int, np.ndarray]:
        """Frame index -> detected box (x, y, w, h) of `tid`."""
        out = {}
        for i, k in enumerate(self.frame_keys):
            frame = self.results[k]
            if tid in frame["tracked_ids"]:
                out[i] = np.asarray(frame["tracked_bbox"][frame["tracked_ids"].index(tid)], dtype=np.float32)
        return out

    def tracks(self) -> dict[int, Track]:
        """Every identity as typed arrays over its frames (PHALP's fast tracks), ids in PHALP's order."""
        return tracks_from_results(self.results)

    def summary(self) -> dict[str, Any]:
        """JSON-ready overview: every identity with its frame span, detection count and mean box."""
        people = []
        for tid in self.track_ids():
            boxes = self.boxes_of(tid)
            frames = sorted(boxes)
            mean_box = np.mean(np.stack([boxes[f] for f in frames]), axis=0)
            people.append(
                {
                    "id": tid,
                    "first_frame": frames[0],
                    "last_frame": frames[-1],
                    "detected_frames": len(frames),
                    "mean_box_xywh": [round(float(v), 2) for v in mean_box],
                }
            )
        return {
            "frames": len(self.frame_keys),
            "image_size_hw": list(self.image_size),
            "ids": [p["id"] for p in people],
            "people": people,
        }


def _fill_appearance(window: list[FramePeople], models: TrackingModels, batch_size: int) -> None:
    """HMAR on every crop of the window that has no UV map yet, in batches across frames."""
    todo = [p for fp in window for p in fp.people if p.uv is None]
    if not todo:
        return
    missing = [p.frame_index for p in todo if p.crop is None]
    if missing:
        raise InputError(
            f"People in frame {missing[0]} have neither a UV map nor a crop; find_people must run with keep_crops=True."
        )
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        crops = torch.from_numpy(np.stack([p.crop for p in chunk]).astype(np.float32)).to(models.device)
        out = models.hmar.appearance(crops)
        uv = out["uv_vector"].float().cpu().numpy()
        appe = out["appe"].float().cpu().numpy()
        for k, person in enumerate(chunk):
            person.uv = uv[k]
            person.appe = appe[k]
            person.crop = None  # the crop is not needed any more: keep memory bounded


def _windows(frames: Iterable[FramePeople], size: int) -> Iterator[list[FramePeople]]:
    window: list[FramePeople] = []
    for fp in frames:
        window.append(fp)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


def track_people(
    frame_people: Iterable[FramePeople],
    models: TrackingModels,
    config: TrackerConfig | None = None,
    progress: ProgressFn = no_progress,
    *,
    video_name: str = "video",
    total_frames: int | None = None,
    shot_frames: Iterable[int] = (),
    window: int = 8,
    hmar_batch: int = 32,
    keep_associations: bool = False,
) -> TrackingResult:
    """Track everyone in `frame_people` (consecutive frames, in order) with PHALP.

    `shot_frames`: frame indices that start a new shot (PHALP's `detect_shots` output; none by default).
    `keep_associations` keeps each frame's cost matrix and decisions (tests, debugging).
    """
    config = config or TrackerConfig.lart_demo()
    tracker = Tracker(config, models.pose_predictor, models.hmar, device=models.device)
    recorder = ResultsRecorder(config.n_init)
    shots = {int(s) for s in shot_frames}
    keys: list[str] = []
    associations: list[FrameAssociation] = []
    image_size: tuple[int, int] = (0, 0)
    expected = None
    progress(STAGE_NAME, 0, total_frames)
    for chunk in _windows(frame_people, max(1, window)):
        _fill_appearance(chunk, models, hmar_batch)
        for fp in chunk:
            t = int(fp.frame_index)
            if expected is not None and t != expected:
                raise InputError(f"Tracking needs consecutive frames: got frame {t} after {expected - 1}.")
            expected = t + 1
            image_size = (int(fp.image_size[0]), int(fp.image_size[1]))
            key = frame_key(video_name, t)
            keys.append(key)
            shot = t in shots
            tracker.predict()
            record = tracker.update(fp.people, t, shot=shot)
            if keep_associations:
                associations.append(record)
            recorder.add_frame(key, t, tracker, fp.people, image_size, shot=shot)
            progress(STAGE_NAME, len(keys), total_frames)
    return TrackingResult(recorder.finish(), keys, image_size, associations)


# ---- loading and the CLI stage ---------------------------------------------------------------------
def load_tracking_models(weights: WeightFiles, settings: Settings) -> TrackingModels:
    """HMAR and the pose predictor from the weights folder (loaded once by the caller)."""

    device = resolve_device(settings.device)
    hmar = load_hmar(weights.hmar_checkpoint, device=device)
    pose_predictor = load_pose_predictor(
        weights.pose_predictor_checkpoint, weights.pose_predictor_config, device, mean_std=weights.mean_std
    )
    return TrackingModels(hmar=hmar, pose_predictor=pose_predictor, device=device)


def tracker_config_from_settings(settings: Settings) -> TrackerConfig:
    """The LART demo's tracker configuration with the user's size and score filters."""
    return TrackerConfig.lart_demo(
        small_w=settings.min_box_w, small_h=settings.min_box_h, low_th_c=settings.detector_threshold
    )


def write_tracking_outputs(result: TrackingResult, out_dir: Path, extra: Mapping[str, Any] | None = None) -> Path:
    """tracks.pkl (PHALP results layout) and tracks.json (summary) in `out_dir`; returns the pkl path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pkl = write_results(result.results, out_dir / "tracks.pkl")
    summary = result.summary()
    if extra:
        summary.update(extra)
    (out_dir / "tracks.json").write_text(json.dumps(summary, indent=1))
    return pkl


def run_track(video: Path, out_dir: Path, settings: Settings, progress: ProgressFn = no_progress) -> Path:
    """`python -m lart_demo track VIDEO --out DIR`: detection -> HMR2.0 -> HMAR -> PHALP; writes tracks.pkl/json."""

    weights = WeightFiles(Path(settings.weights_dir))
    clip = open_clip(video, settings)
    people_models = load_people_models(weights, settings)
    models = load_tracking_models(weights, settings)
    frames = find_people(iter_frames(clip), people_models, settings, keep_crops=True, total=clip.n_frames)
    result = track_people(
        frames,
        models,
        tracker_config_from_settings(settings),
        progress,
        video_name=Path(video).stem,
        total_frames=clip.n_frames,
    )
    extra = {"video": str(video), "clip": clip.to_dict(), "random_weights": weights.is_random()}
    return write_tracking_outputs(result, out_dir, extra)
