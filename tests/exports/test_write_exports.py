"""write_exports: every per-run export from one call, named in results.json's files; --event-threshold reaches it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from export_scenes import N_FRAMES, synthetic_motion, synthetic_result, synthetic_smpl

from lart_demo.cli import _analyze_parser, _settings, main
from lart_demo.config import Settings
from lart_demo.contracts import SmplPerson
from lart_demo.exports import write_exports


def _people_by_frame(frames: np.ndarray, track_id: int) -> dict[int, list[SmplPerson]]:
    m = synthetic_motion(track_id, frames, seed=track_id)
    return {
        int(f): [SmplPerson(track_id, m.global_orient[i][None], m.body_pose[i], m.betas[i], m.cam_t[i])]
        for i, f in enumerate(frames)
    }


def test_one_call_writes_every_export(tmp_path: Path, smpl_dir: Path) -> None:
    probs = np.full((N_FRAMES, 4), 0.1, np.float32)
    probs[10:30, 0] = 0.4
    result = synthetic_result({6: (np.arange(N_FRAMES), probs)})
    files = write_exports(
        result, _people_by_frame(np.arange(N_FRAMES), 6), tmp_path, Settings(event_threshold=0.35),
        synthetic_smpl(smpl_dir),
    )  # fmt: skip
    assert files == {
        "actions_vtt": "actions.vtt",
        "actions_srt": "actions.srt",
        "events_csv": "events.csv",
        "events_json": "events.json",
        "ava_predictions_csv": "ava_predictions.csv",
        "person_6_bvh": "person_6.bvh",
        "person_6_smpl_npz": "person_6_smpl.npz",
    }
    for name in files.values():
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0
    events = json.loads((tmp_path / "events.json").read_text())
    assert events["threshold"] == 0.35
    assert [(e["start_frame"], e["end_frame"]) for e in events["events"]] == [(10, 29)]
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_event_threshold_flag(capsys: pytest.CaptureFixture[str]) -> None:
    args = _analyze_parser().parse_args(["clip.mp4", "--out", "o", "--event-threshold", "0.7"])
    assert _settings(args).event_threshold == 0.7
    args = _analyze_parser().parse_args(["clip.mp4", "--out", "o"])
    assert _settings(args).event_threshold == 0.5
    with pytest.raises(SystemExit):
        main(["clip.mp4", "--out", "o", "--event-threshold", "2"])
    assert "outside 0..1" in capsys.readouterr().err
