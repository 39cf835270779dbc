"""Cost estimate: the MViT FLOP model, scaling with the work, the messages, the refinement after tracking."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lart_demo.models.mvit import RELEASED_MVIT_YAML, TINY_MVIT_YAML, build_mvit, mvit_config_from_dict
from lart_demo.pipeline import estimate
from lart_demo.pipeline.estimate import (
    StageCosts,
    Workload,
    announce_after_tracking,
    device_throughput,
    estimate_run,
    mvit_clip_flops,
)
from lart_demo.pipeline.work import WorkCounts
from lart_demo.precision import precision_policy
from lart_demo.stages.appearance import TrackBoxes

COSTS = StageCosts(detector_per_frame=3e11, hmr2_per_crop=2.5e11, mvit_per_clip=7.6e12, lart_per_window=1e9)


def test_mvit_flop_model_matches_a_flop_count() -> None:
    model = build_mvit(TINY_MVIT_YAML, device="meta")
    cfg = model.config
    clip = torch.empty(1, 3, cfg.num_frames, cfg.crop_size, 78, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.forward_features(clip)
    assert mvit_clip_flops(cfg, (cfg.crop_size, 78)) == pytest.approx(counter.get_total_flops(), rel=0.01)
    # the released model at 312x374: 7.57 TFLOP per clip (torch.utils.flop_counter on meta tensors)
    full = mvit_config_from_dict(RELEASED_MVIT_YAML)
    assert mvit_clip_flops(full, (312, 374)) == pytest.approx(7.566e12, rel=0.001)


def test_estimate_scales_with_work_and_warns_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(estimate._THROUGHPUT, ("cpu", torch.float32), 1e11)
    policy = precision_policy("auto", "cpu")
    small = estimate_run(Workload(24, 48, 4, 2, run_detector=False), COSTS, torch.device("cpu"), policy)
    large = estimate_run(Workload(24, 48, 8, 2, run_detector=False), COSTS, torch.device("cpu"), policy)
    assert small.seconds_by_stage["detector"] == 0
    assert large.seconds_by_stage["mvit"] == pytest.approx(2 * small.seconds_by_stage["mvit"])
    assert small.seconds_by_stage["mvit"] == pytest.approx(4 * 7.6e12 / (1e11 * estimate.EFFICIENCY["mvit"]))
    message = small.message()
    assert message.startswith("Estimate: about ") and "on cpu (fp32)" in message
    assert "Warning: this runs on the CPU" in message
    tiny_job = estimate_run(Workload(2, 0, 0, 0, run_detector=False), COSTS, torch.device("cpu"), policy)
    assert "Warning" not in tiny_job.message()


def test_refined_estimate_counts_distinct_clips_and_remaining_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(estimate._THROUGHPUT, ("cpu", torch.float32), 1e11)
    cfg = mvit_config_from_dict(TINY_MVIT_YAML)
    boxes = np.tile([10.0, 10.0, 50.0, 100.0], (30, 1))
    tracks = {tid: TrackBoxes(fid=np.arange(30), frame_bbox=boxes) for tid in (1, 2, 3)}
    models = SimpleNamespace(mvit=SimpleNamespace(config=cfg), people=SimpleNamespace(device=torch.device("cpu")))
    messages: list[str] = []
    refined = announce_after_tracking(
        COSTS,
        tracks,
        WorkCounts(frames=30, detections=90),
        models,
        precision_policy("fp32", "cpu"),
        lambda stage, done, total: messages.append(stage),
    )
    assert refined.workload.mvit_clips == 5  # 3 tracks with the same frames: 5 distinct clips, not 15
    assert refined.workload.lart_windows == 3
    assert set(refined.seconds_by_stage) == {"mvit", "lart", "render"}
    assert messages == [refined.message()] and "left on cpu" in messages[0]


def test_device_throughput_is_measured_once() -> None:
    first = device_throughput(torch.device("cpu"))
    assert first > 1e6
    assert device_throughput(torch.device("cpu")) == first
