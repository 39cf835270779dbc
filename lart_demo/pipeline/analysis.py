"""One clip through every stage, into a folder: results.json, actions.csv, tracks.pkl, render.mp4, thumbnails.

Three streaming passes over the decoded frames (never all frames in memory):
1. detection + HMR2.0 + HMAR + PHALP association (frame by frame, crops batched across frames) -> `Track`s;
2. MViT appearance clips for every track (the frames each pending clip needs are buffered);
3. rendering + per-track thumbnails + H.264 encode.
Between 2 and 3 LART predicts per-frame actions (`ActionResult` per track). Stages exchange the typed
records of `lart_demo.contracts`; PHALP's layout appears only in the tracks.pkl export.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lart_demo.config import Settings
from lart_demo.contracts import ActionResult, Clip, ClipMeta, Result, SmplPerson, Track, TrackResult
from lart_demo.errors import WeightsError
from lart_demo.exports import write_exports
from lart_demo.exports.tracks_pkl import write_tracks_pkl
from lart_demo.models.detector import KnownBoxesDetector
from lart_demo.models.mvit import MViT, load_mvit
from lart_demo.notices import RANDOM_WEIGHTS_MARK
from lart_demo.pipeline.cache import weights_identity
from lart_demo.pipeline.estimate import announce_after_tracking, announce_start
from lart_demo.pipeline.request import AnalysisRequest
from lart_demo.pipeline.results import write_actions_csv, write_result_json
from lart_demo.pipeline.work import WorkCounts, counting_people
from lart_demo.precision import precision_policy
from lart_demo.progress import ProgressFn, no_progress, renamed
from lart_demo.render.video import RenderPerson, Sighting, pose_people, render_video, with_track_thumbnails
from lart_demo.stages.actions import ActionModels, load_action_models, plan_windows, predict_actions
from lart_demo.stages.appearance import AppearanceConfig, compute_appearance, with_appearance
from lart_demo.stages.boxes import read_boxes_file
from lart_demo.stages.people import PeopleModels, find_people, load_people_models
from lart_demo.stages.tracking.stage import (
    TrackingModels,
    load_tracking_models,
    track_people,
    tracker_config_from_settings,
)
from lart_demo.video.io import iter_frames
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.status import missing_for

log = logging.getLogger(__name__)

STAGES = ("detection", "pose", "tracking", "actions", "render")  # manifest `required_for` names
_MODEL_CACHE: dict[tuple[str, str, str], Models] = {}


@dataclass
class Models:
    people: PeopleModels
    tracking: TrackingModels
    mvit: MViT
    actions: ActionModels
    random_weights: bool
    versions: dict[str, str]


def _versions(weights: WeightFiles) -> dict[str, str]:
    files = {
        "hmr2": weights.hmr2_checkpoint,
        "hmar": weights.hmar_checkpoint,
        "pose_predictor": weights.pose_predictor_checkpoint,
        "mvit": weights.mvit_checkpoint,
        "lart": weights.lart_checkpoint,
        "detector": weights.detector_checkpoint,
    }
    return {k: f"{p.name} ({p.stat().st_size} bytes)" for k, p in files.items() if p.is_file()}


def ensure_weights(settings: Settings, progress: ProgressFn) -> None:
    """Download missing weight files on first use (Hub mirror, then origin hosts); SMPL only from the user's
    file or after they accepted its licence. Anything still missing is a WeightsError saying how to get it."""
    missing = missing_for(settings, STAGES)
    if not missing:
        return
    if not WeightFiles(Path(settings.weights_dir)).is_random():
        log.info("downloading %d missing weight files into %s", len(missing), settings.weights_dir)
        download_weights(settings, progress=renamed(progress, "Downloading model weights (first use)"))
        missing = missing_for(settings, STAGES)
    if missing:
        listed = "; ".join(f"{m.path.name} ({m.detail}): {m.how_to_get}" for m in missing)
        raise WeightsError(
            f"{len(missing)} model file(s) are missing from {settings.weights_dir}: {listed}. "
            "Run `python -m lart_demo weights download` (see README, section Weights)."
        )


def load_models(settings: Settings, progress: ProgressFn = no_progress) -> Models:
    """Every model the analysis needs, loaded once per (weights folder and its files' content, device)."""
    ensure_weights(settings, progress)
    identity = json.dumps(weights_identity(settings), sort_keys=True)  # new files in the same folder: reload
    key = (str(Path(settings.weights_dir).resolve()), identity, settings.device)
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    weights = WeightFiles(Path(settings.weights_dir))
    people = load_people_models(weights, settings)
    models = Models(
        people=people,
        tracking=load_tracking_models(weights, settings),
        mvit=load_mvit(weights.mvit_checkpoint, weights.mvit_config, device=people.device),
        actions=load_action_models(weights, settings),
        random_weights=weights.is_random(),
        versions=_versions(weights),
    )
    for old in [k for k in _MODEL_CACHE if (k[0], k[2]) == (key[0], key[2])]:
        del _MODEL_CACHE[old]  # models of files that were replaced: never used again
    _MODEL_CACHE[key] = models
    return models


def _with_known_boxes(people_models: PeopleModels, settings: Settings, clip: Clip) -> PeopleModels:
    """The people models with the detector replaced by the user's boxes file, when one is given."""
    if settings.boxes_file is None:
        return people_models
    scale = (clip.width / clip.source_size[0], clip.height / clip.source_size[1])
    return replace(people_models, detector=KnownBoxesDetector(read_boxes_file(settings.boxes_file, scale)))


def _keep_busiest(tracks: dict[int, Track], max_people: int) -> dict[int, Track]:
    """At most `max_people` tracks: those with the most detections (ties: lower id)."""
    if len(tracks) <= max_people:
        return tracks
    ranked = sorted(tracks, key=lambda tid: (-int(np.sum(tracks[tid].has_detection)), tid))
    kept = set(ranked[:max_people])
    return {tid: track for tid, track in tracks.items() if tid in kept}


def _boxes_xyxy(track: Track) -> np.ndarray:
    """(T, 4) float32 xyxy of the detected boxes, NaN rows where the track has no detection."""
    boxes = np.full((len(track), 4), np.nan, np.float32)
    x, y, w, h = track.boxes_tlwh[track.has_detection].T
    boxes[track.has_detection] = np.stack([x, y, x + w, y + h], axis=1)
    return boxes


def people_by_frame(
    tracks: dict[int, Track], actions: dict[int, ActionResult], names: list[str]
) -> dict[int, list[SmplPerson]]:
    """What to draw in each frame: detections with their own body, ghosts (kept alive by the tracker without a
    detection) with LART's in-filled body, each with its five most probable actions."""
    by_frame: dict[int, list[SmplPerson]] = {}
    for tid, act in actions.items():
        track = tracks[tid]
        for pos, frame in enumerate(act.frame_index.tolist()):
            if not track.listed[pos]:
                continue  # the tracker had dropped the identity here: the demo draws nothing
            probs = act.probs[pos]
            labels = [(names[k], float(probs[k])) for k in np.argsort(-probs)[:5]]
            if track.has_detection[pos]:
                body = (track.global_orient[pos], track.body_pose[pos], track.betas[pos], track.cam_t[pos])
            else:
                cam = np.asarray(act.camera[pos], dtype=np.float32)
                body = (act.global_orient[pos], act.body_pose[pos], act.betas[pos], cam)
            ghost = not bool(track.has_detection[pos])
            by_frame.setdefault(int(frame), []).append(SmplPerson(tid, *body, is_ghost=ghost, labels=labels))
    return by_frame


def _sightings(tracks: dict[int, Track]) -> list[Sighting]:
    """Every detection of every track, for the thumbnails (each track's most confident one is drawn)."""
    out = []
    for tid, track in tracks.items():
        for pos in np.flatnonzero(track.has_detection):
            x, y, w, h = (float(v) for v in track.boxes_tlwh[pos])
            out.append(
                Sighting(tid, int(track.frame_index[pos]), float(track.box_conf[pos]), np.array([x, y, x + w, y + h]))
            )
    return out


def _clip_meta(clip: Clip, request: AnalysisRequest) -> ClipMeta:
    from_url = request.source.startswith("http")
    return ClipMeta(
        name=request.source if from_url else Path(request.source).name,
        source=clip.source,
        fps=float(clip.fps),
        n_frames=int(clip.n_frames),
        width=int(clip.width),
        height=int(clip.height),
        duration_s=float(clip.duration_s),
        start_s=float(clip.start_s),
        caps_applied=list(clip.caps_applied),
        source_url=request.source if from_url else None,
    )


def analyze_clip(clip: Clip, request: AnalysisRequest, out_dir: Path, progress: ProgressFn) -> Result:
    """Run every stage on `clip`, write the run's files into `out_dir` and return its `Result`."""
    settings = request.settings
    timings: dict[str, float] = {}
    progress("Loading models", 0, None)
    t0 = time.monotonic()
    models = load_models(settings, progress)
    timings["load_models"] = time.monotonic() - t0
    policy = precision_policy(settings.precision, models.people.device)
    work = WorkCounts(frames=int(clip.n_frames))
    costs, _ = announce_start(clip, settings, models, policy, progress)

    t0 = time.monotonic()
    people = find_people(
        iter_frames(clip),
        _with_known_boxes(models.people, settings, clip),
        settings,
        no_progress,  # runs interleaved with tracking: the tracker's per-frame count is the one shown
        keep_crops=True,
        total=clip.n_frames,
    )
    tracking = track_people(
        counting_people(people, work),
        models.tracking,
        tracker_config_from_settings(settings),
        renamed(progress, "Finding and tracking people (detector, HMR2.0, PHALP)"),
        video_name=clip.path.stem,
        total_frames=clip.n_frames,
    )
    tracks = _keep_busiest(tracking.tracks(), settings.max_people)
    timings["people_and_tracking"] = time.monotonic() - t0

    work.tracks = len(tracks)
    announce_after_tracking(costs, tracks, work, models, policy, progress)
    t0 = time.monotonic()
    mvit_counts: dict[str, int] = {}
    if tracks:
        appearance = compute_appearance(
            iter_frames(clip),
            tracks,
            models.mvit,
            AppearanceConfig(precision=policy),
            renamed(progress, "Appearance features (MViT)"),
            mvit_counts,
        )
        tracks = with_appearance(tracks, appearance)
    timings["appearance"] = time.monotonic() - t0
    work.mvit_clips = mvit_counts.get("mvit_clips", 0)
    work.mvit_backbone_passes = mvit_counts.get("mvit_backbone_passes", 0)
    work.lart_windows = sum(len(plan_windows(len(track))) for track in tracks.values())

    t0 = time.monotonic()
    progress("Recognising actions (LART)", 0, len(tracks))
    act = models.actions
    actions = predict_actions(tracks, act.lart, act.normalisation, labels=act.labels) if tracks else {}
    progress("Recognising actions (LART)", len(tracks), len(tracks))
    timings["actions"] = time.monotonic() - t0
    names = act.labels.display_names_by_index()

    write_tracks_pkl(
        tracking.results, tracking.frame_keys, actions, out_dir / "tracks.pkl", random_weights=models.random_weights
    )

    t0 = time.monotonic()
    thumbs_dir = out_dir / "thumbnails"
    thumbs_dir.mkdir(exist_ok=True)
    frames = with_track_thumbnails(iter_frames(clip), _sightings(tracks), thumbs_dir)
    notes = list(clip.notes)
    by_frame = people_by_frame(tracks, actions, names)
    if request.render:
        smpl = models.people.smpl

        def posed(index: int) -> list[RenderPerson]:
            return pose_people(smpl, by_frame.get(index, []))

        rendered = render_video(
            clip,
            frames,
            posed,
            out_dir / "render.mp4",
            smpl.faces,
            settings,
            renamed(progress, "Rendering video"),
            mark=RANDOM_WEIGHTS_MARK if models.random_weights else "",
        )
        if rendered.notice:
            notes.append(rendered.notice)
    else:
        for _ in frames:  # thumbnails only
            pass
    timings["render"] = time.monotonic() - t0

    result = Result(
        clip=_clip_meta(clip, request),
        tracks=[
            TrackResult(
                track_id=tid,
                frames=out.frame_index,
                has_detection=out.has_detection,
                boxes_xyxy=_boxes_xyxy(tracks[tid]),
                color_index=tid,
                thumbnail=f"thumbnails/track_{tid}.png" if (thumbs_dir / f"track_{tid}.png").is_file() else None,
                action_probs=out.probs,
            )
            for tid, out in actions.items()
        ],
        action_names=names,
        action_ava_ids=[int(i) for i in act.labels.class_ids],
        timings_s={k: round(v, 3) for k, v in timings.items()},
        model_versions=models.versions,
        random_weights=models.random_weights,
        files={
            **({"video": "render.mp4"} if request.render else {}),
            "tracks_pkl": "tracks.pkl",
            "actions_csv": "actions.csv",
        },
        notes=notes,
        created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        work=work.as_dict(),
        precision=policy.describe(),
    )
    result.files.update(write_exports(result, by_frame, out_dir, settings, models.people.smpl))
    write_actions_csv(result, out_dir / "actions.csv")
    write_result_json(result, out_dir / "results.json")
    return result
