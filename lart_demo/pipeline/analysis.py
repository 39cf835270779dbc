"""One clip through every stage, into a folder: results.json, actions.csv, tracks.pkl, render.mp4, thumbnails.

Three streaming passes over the decoded frames (never all frames in memory):
1. detection + HMR2.0 + HMAR + PHALP association (frame by frame, crops batched across frames);
2. MViT appearance clips for every track (the frames each pending clip needs are buffered);
3. rendering + per-track thumbnails + H.264 encode.
Between 1 and 2 the tracks become "fast tracks"; between 2 and 3 LART predicts per-frame actions.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lart_demo.config import Settings
from lart_demo.contracts import ProgressFn
from lart_demo.errors import WeightsError
from lart_demo.pipeline.timeline import PersonTimeline
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.status import missing_for

if TYPE_CHECKING:
    from lart_demo.pipeline.run import AnalysisRequest, RunOutput
    from lart_demo.render.video import SmplPerson
    from lart_demo.stages.actions import ActionModels, ActionOutput
    from lart_demo.stages.tracking.stage import TrackingResult
    from lart_demo.video.io import Clip

log = logging.getLogger(__name__)

STAGES = ("detection", "pose", "tracking", "actions", "render")  # manifest `required_for` names
RANDOM_WEIGHTS_MARK = "RANDOM WEIGHTS: predictions are meaningless"  # written on every rendered frame
_MODEL_CACHE: dict[tuple[str, str], Models] = {}


@dataclass
class Models:
    people: Any  # people.PeopleModels
    tracking: Any  # tracking.stage.TrackingModels
    mvit: Any  # models.mvit.MViT
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


def _silent(stage: str, done: int, total: int | None) -> None:
    """A progress sink for a stage whose progress another stage already reports."""


def _rename(progress: ProgressFn, name: str) -> ProgressFn:
    """Stages name themselves tersely; the user sees one clear name per step."""

    def report(_stage: str, done: int, total: int | None) -> None:
        progress(name, done, total)

    return report


def ensure_weights(settings: Settings, progress: ProgressFn) -> None:
    """Download missing weight files on first use (Hub mirror, then origin hosts); SMPL only from the user's
    file or after they accepted its licence. Anything still missing is a WeightsError saying how to get it."""
    missing = missing_for(settings, STAGES)
    if not missing:
        return
    if not WeightFiles(Path(settings.weights_dir)).is_random():
        log.info("downloading %d missing weight files into %s", len(missing), settings.weights_dir)
        download_weights(settings, progress=_rename(progress, "Downloading model weights (first use)"))
        missing = missing_for(settings, STAGES)
    if missing:
        listed = "; ".join(f"{m.path.name} ({m.detail}): {m.how_to_get}" for m in missing)
        raise WeightsError(
            f"{len(missing)} model file(s) are missing from {settings.weights_dir}: {listed}. "
            "Run `python -m lart_demo weights download` (see README, section Weights)."
        )


def load_models(settings: Settings, progress: ProgressFn = _silent) -> Models:
    """Every model the analysis needs, loaded once per (weights folder, device) and kept for later runs."""
    from lart_demo.models.mvit import load_mvit
    from lart_demo.stages.actions import load_action_models
    from lart_demo.stages.people import load_people_models
    from lart_demo.stages.tracking.stage import load_tracking_models

    key = (str(Path(settings.weights_dir).resolve()), settings.device)
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    ensure_weights(settings, progress)
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
    _MODEL_CACHE[key] = models
    return models


def _with_known_boxes(people_models: Any, settings: Settings, clip: Clip) -> Any:
    """The people models with the detector replaced by the user's boxes file, when one is given."""
    if settings.boxes_file is None:
        return people_models
    from lart_demo.models.detector import KnownBoxesDetector
    from lart_demo.stages.boxes import read_boxes_file

    scale = (clip.width / clip.source_size[0], clip.height / clip.source_size[1])
    return replace(people_models, detector=KnownBoxesDetector(read_boxes_file(settings.boxes_file, scale)))


def _keep_busiest(fast: dict[int, dict[str, Any]], max_people: int) -> dict[int, dict[str, Any]]:
    """At most `max_people` tracks: those with the most detections (ties: lower id)."""
    if len(fast) <= max_people:
        return fast
    ranked = sorted(fast, key=lambda tid: (-float(np.sum(fast[tid]["has_detection"])), tid))
    kept = set(ranked[:max_people])
    return {tid: track for tid, track in fast.items() if tid in kept}


def _boxes_xyxy(track: dict[str, Any]) -> np.ndarray:
    boxes = np.full((len(track["frame_bbox"]), 4), np.nan, np.float32)
    for i, (has, tlwh) in enumerate(zip(track["has_detection"].reshape(-1), track["frame_bbox"], strict=True)):
        if has:
            x, y, w, h = (float(v) for v in tlwh)
            boxes[i] = (x, y, x + w, y + h)
    return boxes


def _entry_position(entry: dict[str, Any], tid: int) -> int | None:
    """Where `tid` is listed in a PHALP frame dict (detected or ghost), or None."""
    for i, t in enumerate(entry["tid"]):
        if t == tid:
            return i
    return None


def _apply_lart(tracking: TrackingResult, actions: dict[int, ActionOutput]) -> None:
    """What the LART demo does to the PHALP results before writing its pkl and rendering.

    For every frame of a track's span where the tid is listed: attach `label[tid]` (top-3 strings) and
    `ava_action[tid]` (the (1, 60) logits); on ghost entries (listed but not detected) replace `smpl` and
    `camera` with LART's in-filled body and mark `tracked_time = -1`.
    """
    for entry in tracking.results.values():
        entry.setdefault("label", {})
        entry.setdefault("ava_action", {})
    for tid, out in actions.items():
        for pos, frame in enumerate(out.frame_index.tolist()):
            entry = tracking.results[tracking.frame_keys[frame]]
            i = _entry_position(entry, tid)
            if i is None:
                continue
            entry["label"][tid] = list(out.top_labels[pos])
            entry["ava_action"][tid] = out.logits[pos][None].copy()
            infill = out.infill(pos)
            if entry["tracked_time"][i] > 0 and infill is not None:
                entry["smpl"][i] = {k: infill[k] for k in ("global_orient", "body_pose", "betas")}
                entry["camera"][i] = np.asarray(infill["camera"], dtype=np.float32)
                entry["tracked_time"][i] = -1


def _smpl_people_by_frame(
    tracking: TrackingResult, actions: dict[int, ActionOutput], names: list[str]
) -> dict[int, list[SmplPerson]]:
    """What to draw in each frame (after `_apply_lart`): detections with their body, ghosts with LART's in-fill."""
    from lart_demo.render.video import SmplPerson

    by_frame: dict[int, list[SmplPerson]] = {}
    for tid, out in actions.items():
        for pos, frame in enumerate(out.frame_index.tolist()):
            entry = tracking.results[tracking.frame_keys[frame]]
            i = _entry_position(entry, tid)
            if i is None or entry["tracked_time"][i] > 0:
                continue  # not listed, or a ghost LART could not fill (outside the track's span)
            probs = out.probs[pos]
            labels = [(names[k], float(probs[k])) for k in np.argsort(-probs)[:5]]
            smpl = entry["smpl"][i]
            by_frame.setdefault(int(frame), []).append(
                SmplPerson(
                    tid,
                    smpl["global_orient"],
                    smpl["body_pose"],
                    smpl["betas"],
                    entry["camera"][i],
                    is_ghost=entry["tracked_time"][i] < 0,
                    labels=labels,
                )
            )
    return by_frame


def _with_thumbnails(
    frames: Iterator[tuple[int, np.ndarray]], wanted: dict[int, list[tuple[int, np.ndarray]]], out_dir: Path
) -> Iterator[tuple[int, np.ndarray]]:
    """Pass frames through unchanged, saving each track's thumbnail when its best frame goes by."""
    import cv2

    from lart_demo.render.video import crop_person

    for index, frame in frames:
        for tid, box in wanted.pop(index, []):
            cv2.imwrite(str(out_dir / f"track_{tid}.png"), cv2.cvtColor(crop_person(frame, box), cv2.COLOR_RGB2BGR))
        yield index, frame


def _best_frames(fast: dict[int, dict[str, Any]]) -> dict[int, list[tuple[int, np.ndarray]]]:
    wanted: dict[int, list[tuple[int, np.ndarray]]] = {}
    for tid, track in fast.items():
        conf = np.asarray(track["frame_conf"], dtype=np.float64)
        pos = int(np.argmax(conf))
        x, y, w, h = (float(v) for v in track["frame_bbox"][pos])
        wanted.setdefault(int(track["fid"][pos, 0, 0]), []).append((tid, np.array([x, y, x + w, y + h])))
    return wanted


def analyze_clip(clip: Clip, request: AnalysisRequest, out_dir: Path, progress: ProgressFn) -> None:
    """Run every stage on `clip` and write the run's files into `out_dir`."""
    from lart_demo.exports import write_exports
    from lart_demo.pipeline.results import ClipMeta, Result, TrackResult
    from lart_demo.render.video import pose_people, render_video
    from lart_demo.stages.actions import predict_actions
    from lart_demo.stages.appearance import compute_appearance
    from lart_demo.stages.people import find_people
    from lart_demo.stages.tracking.stage import track_people, tracker_config_from_settings
    from lart_demo.stages.tracking.tracks import write_results
    from lart_demo.video.io import iter_frames

    settings = request.settings
    timings: dict[str, float] = {}
    progress("Loading models", 0, None)
    t0 = time.monotonic()
    models = load_models(settings, progress)
    timings["load_models"] = time.monotonic() - t0

    t0 = time.monotonic()
    people = find_people(
        iter_frames(clip),
        _with_known_boxes(models.people, settings, clip),
        settings,
        _silent,  # runs interleaved with tracking: the tracker's per-frame count is the one shown
        keep_crops=True,
        total=clip.n_frames,
    )
    tracking = track_people(
        people,
        models.tracking,
        tracker_config_from_settings(settings),
        _rename(progress, "Finding and tracking people (detector, HMR2.0, PHALP)"),
        video_name=clip.path.stem,
        total_frames=clip.n_frames,
    )
    timings["people_and_tracking"] = time.monotonic() - t0

    fast = _keep_busiest(tracking.fast_tracks(), settings.max_people)
    t0 = time.monotonic()
    appearance = (
        compute_appearance(
            iter_frames(clip), fast, models.mvit, progress=_rename(progress, "Appearance features (MViT)")
        )
        if fast
        else {}
    )
    for tid, feats in appearance.items():
        fast[tid]["apperance_emb"] = feats["apperance_emb"]
    timings["appearance"] = time.monotonic() - t0

    t0 = time.monotonic()
    progress("Recognising actions (LART)", 0, len(fast))
    act = models.actions
    actions = predict_actions(fast, act.lart, act.normalisation, labels=act.labels) if fast else {}
    progress("Recognising actions (LART)", len(fast), len(fast))
    timings["actions"] = time.monotonic() - t0
    names = act.labels.display_names_by_index()

    _apply_lart(tracking, actions)
    write_results(tracking.results, out_dir / "tracks.pkl", random_weights=models.random_weights)

    t0 = time.monotonic()
    thumbs_dir = out_dir / "thumbnails"
    thumbs_dir.mkdir(exist_ok=True)
    frames = _with_thumbnails(iter_frames(clip), _best_frames(fast), thumbs_dir)
    notes = list(clip.notes)
    by_frame = _smpl_people_by_frame(tracking, actions, names)
    if request.render:
        smpl = models.people.smpl
        lookup: Callable[[int], list] = lambda i: pose_people(smpl, by_frame.get(i, []))  # noqa: E731
        rendered = render_video(
            clip,
            frames,
            lookup,
            out_dir / "render.mp4",
            smpl.faces,
            settings,
            _rename(progress, "Rendering video"),
            mark=RANDOM_WEIGHTS_MARK if models.random_weights else "",
        )
        if rendered.notice:
            notes.append(rendered.notice)
    else:
        for _ in frames:  # thumbnails only
            pass
    timings["render"] = time.monotonic() - t0

    tracks = [
        TrackResult(
            track_id=tid,
            frames=out.frame_index,
            has_detection=out.has_detection,
            boxes_xyxy=_boxes_xyxy(fast[tid]),
            color_index=tid,
            thumbnail=f"thumbnails/track_{tid}.png" if (thumbs_dir / f"track_{tid}.png").is_file() else None,
            action_probs=out.probs,
        )
        for tid, out in actions.items()
    ]
    result = Result(
        clip=ClipMeta(
            name=Path(request.source).name if not request.source.startswith("http") else request.source,
            source=clip.source,
            fps=float(clip.fps),
            n_frames=int(clip.n_frames),
            width=int(clip.width),
            height=int(clip.height),
            duration_s=float(clip.duration_s),
            start_s=float(clip.start_s),
            caps_applied=list(clip.caps_applied),
            source_url=request.source if request.source.startswith("http") else None,
        ),
        tracks=tracks,
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
    )
    result.files.update(write_exports(result, by_frame, out_dir, settings, models.people.smpl))
    result.write_actions_csv(out_dir / "actions.csv")
    result.write_json(out_dir / "results.json")


def _data_url(path: Path) -> str | None:
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def load_run_output(out_dir: Path) -> RunOutput:
    """A finished run folder as the app and CLI see it."""
    from lart_demo.pipeline.results import Result
    from lart_demo.pipeline.run import RunOutput
    from lart_demo.render.colors import track_color

    result = Result.from_json(out_dir / "results.json")
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
    )
