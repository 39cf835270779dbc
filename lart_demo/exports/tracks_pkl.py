"""tracks.pkl: the one place the analysis speaks PHALP's results layout.

The LART demo writes PHALP's per-frame results with its own additions: on every frame of a track's
span where the identity is listed, `label[tid]` (top-3 strings) and `ava_action[tid]` ((1, 60) logits);
on ghost entries (listed, not detected) LART's in-filled `smpl` and `camera`, and `tracked_time = -1`.
`lart_results` builds that from the tracker's records and the typed `ActionResult`s without changing
the records (the renderer and results.json read the typed data, never this layout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lart_demo.contracts import ActionResult
from lart_demo.stages.tracking.tracks import write_results

# per-entry lists the LART additions replace items of (copied per frame, so the records stay as they were)
_REPLACED_LISTS = ("smpl", "camera", "tracked_time")


def lart_results(
    records: Mapping[str, Mapping[str, Any]], frame_keys: Sequence[str], actions: Mapping[int, ActionResult]
) -> dict[str, dict[str, Any]]:
    """PHALP results (`records`, frame key -> frame dict) with LART's labels, logits and in-filled ghosts."""
    out: dict[str, dict[str, Any]] = {}
    for key, entry in records.items():
        frame = dict(entry)
        for name in _REPLACED_LISTS:
            frame[name] = list(entry[name])
        frame["label"] = {}
        frame["ava_action"] = {}
        out[key] = frame
    for tid, act in actions.items():
        for pos, frame_index in enumerate(act.frame_index.tolist()):
            frame = out[frame_keys[frame_index]]
            if tid not in frame["tid"]:
                continue
            i = list(frame["tid"]).index(tid)
            frame["label"][tid] = list(act.top_labels[pos])
            frame["ava_action"][tid] = act.logits[pos][None].copy()
            if frame["tracked_time"][i] > 0 and not act.has_detection[pos]:
                frame["smpl"][i] = {
                    "global_orient": act.global_orient[pos],
                    "body_pose": act.body_pose[pos],
                    "betas": act.betas[pos],
                }
                frame["camera"][i] = np.asarray(act.camera[pos], dtype=np.float32)
                frame["tracked_time"][i] = -1
    return out


def write_tracks_pkl(
    records: Mapping[str, Mapping[str, Any]],
    frame_keys: Sequence[str],
    actions: Mapping[int, ActionResult],
    path: Path,
    random_weights: bool = False,
) -> Path:
    """tracks.pkl as the LART demo writes it (PHALP's joblib format, compress=3)."""
    return write_results(lart_results(records, frame_keys, actions), path, random_weights=random_weights)
