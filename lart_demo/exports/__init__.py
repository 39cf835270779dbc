"""Files that take a run's results into other tools: animation (BVH, AMASS npz), captions, events, AVA, 3D.

`write_exports` writes every per-run export next to results.json at the end of an analysis; the 3D view
(`glb`) and highlight clips (`highlight`) are made on request from a finished run folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from lart_demo.config import Settings
from lart_demo.contracts import Result, SmplPerson
from lart_demo.exports.ava import write_ava_predictions
from lart_demo.exports.bvh import write_bvh
from lart_demo.exports.captions import write_captions
from lart_demo.exports.events import write_events
from lart_demo.exports.motion import motions_from_frames
from lart_demo.exports.smpl_npz import write_smpl_npz

log = logging.getLogger(__name__)


def bvh_name(track_id: int) -> str:
    return f"person_{track_id}.bvh"


def smpl_npz_name(track_id: int) -> str:
    return f"person_{track_id}_smpl.npz"


def write_exports(
    result: Result,
    people_by_frame: Mapping[int, Sequence[SmplPerson]],
    out_dir: Path,
    settings: Settings,
    smpl: object,
) -> dict[str, str]:
    """Write every export of one run into `out_dir`; returns {role: file name} for results.json's `files`.

    `people_by_frame` is what the renderer draws (frame -> SMPL people), `smpl` the body model they are posed
    with (`models.smpl.SMPL`).
    """
    out_dir = Path(out_dir)
    fps = float(result.clip.fps)
    files: dict[str, str] = {}
    vtt, srt = write_captions(out_dir, result, settings.labels_per_person, settings.min_label_prob)
    events_csv, events_json = write_events(out_dir, result, settings.event_threshold)
    ava = write_ava_predictions(out_dir / "ava_predictions.csv", result)
    for role, path in (
        ("actions_vtt", vtt),
        ("actions_srt", srt),
        ("events_csv", events_csv),
        ("events_json", events_json),
        ("ava_predictions_csv", ava),
    ):
        files[role] = path.name
    for tid, motion in motions_from_frames(people_by_frame).items():
        if len(motion) == 0:
            continue
        write_bvh(out_dir / bvh_name(tid), motion, smpl, fps)
        files[f"person_{tid}_bvh"] = bvh_name(tid)
        write_smpl_npz(out_dir / smpl_npz_name(tid), motion, fps, result.clip.width, result.clip.height)
        files[f"person_{tid}_smpl_npz"] = smpl_npz_name(tid)
    return files
