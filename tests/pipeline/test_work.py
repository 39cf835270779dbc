"""The `work` and `precision` sections of results.json."""

from __future__ import annotations

import json
from pathlib import Path

from lart_demo.contracts import ClipMeta, FramePeople, Result
from lart_demo.pipeline.results import read_result_json, write_result_json
from lart_demo.pipeline.work import WorkCounts, counting_people
from lart_demo.precision import precision_policy


def test_people_are_counted_as_they_pass() -> None:
    counts = WorkCounts(frames=3)
    frames = [FramePeople(i, (10, 10), people=[object()] * n) for i, n in enumerate([2, 0, 3])]  # type: ignore[list-item]
    assert list(counting_people(iter(frames), counts)) == frames
    assert counts.detections == 5 and counts.hmr2_crops == 5


def test_work_and_precision_round_trip_through_results_json(tmp_path: Path) -> None:
    work = WorkCounts(24, 48, 2, 8, 4, 48, 2).as_dict()
    result = Result(
        clip=ClipMeta(name="c.mp4", source="file", fps=24.0, n_frames=24, width=64, height=48, duration_s=1.0),
        tracks=[],
        action_names=["stand"],
        action_ava_ids=[12],
        work=work,
        precision=precision_policy("auto", "cpu").describe(),
    )
    path = write_result_json(result, tmp_path / "results.json")
    data = json.loads(path.read_text())
    assert data["work"] == {
        "frames": 24,
        "detections": 48,
        "tracks": 2,
        "mvit_clips": 8,
        "mvit_backbone_passes": 4,
        "hmr2_crops": 48,
        "lart_windows": 2,
    }
    assert data["precision"]["requested"] == "auto" and data["precision"]["effective"] == "fp32"
    again = read_result_json(path)
    assert again.work == work and again.precision == result.precision
