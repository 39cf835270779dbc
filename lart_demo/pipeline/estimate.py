"""What a run will cost, said before the heavy work starts and refined once the tracks are known.

cost model: per stage, FLOPs per unit of work (frame, crop, clip, window) from the loaded models' sizes;
calibration: the device's float throughput, measured with a short matmul run in the stage's precision
(a fraction of a second); efficiency: how much of that throughput each kind of network reaches in
practice (measured once on CPU; convolutions and attention do worse than one big matmul).

estimated seconds = sum over stages of units x FLOPs per unit / (throughput x efficiency)
                    + the tracker's per-detection Python overhead.
Before tracking the number of people is a guess (the known-boxes file, else `ASSUMED_PEOPLE`); after
tracking the number of tracks and distinct MViT clips is exact.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from lart_demo.models.mvit import MViTConfig, block_specs
from lart_demo.precision import PrecisionPolicy
from lart_demo.progress import ProgressFn
from lart_demo.stages.actions import plan_windows
from lart_demo.stages.appearance import as_track_boxes, count_clips, model_input_size
from lart_demo.stages.boxes import read_boxes_file

if TYPE_CHECKING:  # annotations only: analysis imports this module
    from lart_demo.config import Settings
    from lart_demo.contracts import Track
    from lart_demo.pipeline.analysis import Models
    from lart_demo.pipeline.work import WorkCounts
    from lart_demo.video.io import Clip

log = logging.getLogger(__name__)

ASSUMED_PEOPLE = 2  # people per frame before tracking has counted them
CLIP_STEP = 6  # track frames per MViT clip (lart_demo.stages.appearance.NUM_STEPS)
LART_STEP = 32  # track frames per LART window step
HMR2_TOKENS = 192  # ViT tokens of one 256x192 crop: FLOPs ~ 2 x params x tokens
DETECTOR_FLOPS_PER_PARAM = 6.4e3  # Mask R-CNN R50-FPN v2 at 800 px: ~300 GFLOP for 46 M parameters
TRACKING_S_PER_DETECTION = 0.05  # PHALP association, HMAR and UV fusion per detection (CPU side)
RENDER_S_PER_FRAME = {"cpu": 0.25, "cuda": 0.05}  # mesh render + encode (benchmarks/bench_render.py, 720p)
# Fraction of the calibrated matmul throughput each network reaches (measured on CPU, fp32: the full MViT
# clip ran 32.6 GFLOP per CPU-second and HMR2.0 49, against 69 for the calibration matmul).
EFFICIENCY = {"detector": 0.35, "hmr2": 0.7, "mvit": 0.5, "lart": 0.5}
CALIBRATION_SIZE = 512


@dataclass(frozen=True)
class Workload:
    """How much work a run has: frames, detections (people x frames), MViT clips, LART windows."""

    frames: int
    detections: int
    mvit_clips: int  # distinct backbone passes
    lart_windows: int
    run_detector: bool


@dataclass(frozen=True)
class StageCosts:
    """FLOPs per unit of work for the loaded models."""

    detector_per_frame: float
    hmr2_per_crop: float
    mvit_per_clip: float
    lart_per_window: float


@dataclass(frozen=True)
class Estimate:
    seconds_by_stage: dict[str, float]
    device: str
    precision: str
    workload: Workload

    remaining: bool = False  # True: only the stages still to run (after tracking)

    @property
    def total_s(self) -> float:
        return sum(self.seconds_by_stage.values())

    def message(self) -> str:
        """One line for the CLI and the page: device, precision, estimated time; a warning on CPU."""
        w = self.workload
        if self.remaining:
            text = (
                f"Estimate after tracking: about {format_duration(self.total_s)} left on {self.device} "
                f"({self.precision}) for {w.mvit_clips} MViT clips and {w.lart_windows} LART windows"
            )
        else:
            text = (
                f"Estimate: about {format_duration(self.total_s)} on {self.device} ({self.precision}) for "
                f"{w.frames} frames, {w.detections} people detections, {w.mvit_clips} MViT clips"
            )
        if self.device.startswith("cpu") and self.total_s > 120:
            text += ". Warning: this runs on the CPU; a GPU is tens of times faster"
        return text


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def mvit_clip_flops(cfg: MViTConfig, clip_hw: tuple[int, int]) -> float:
    """Multiply-add FLOPs (x2) of one backbone pass, counted from the block schedule (matmuls and convs)."""
    kt, kh, kw = cfg.patch_kernel
    t, h, w = (
        (size + 2 * pad - k) // stride + 1
        for size, pad, k, stride in zip(
            (cfg.num_frames, *clip_hw), cfg.patch_padding, cfg.patch_kernel, cfg.patch_stride, strict=True
        )
    )
    flops = 2.0 * t * h * w * cfg.in_chans * kt * kh * kw * cfg.embed_dim
    thw = (t, h, w)
    cls = 1 if cfg.cls_embed else 0
    for spec in block_specs(cfg):
        dim, dim_out = spec.dim, spec.dim_out
        att = dim_out if cfg.dim_mul_in_att else dim
        n = cls + math.prod(thw)
        q_thw = _pooled(thw, spec.kernel_q, spec.stride_q)
        k_thw = _pooled(thw, spec.kernel_kv, spec.stride_kv)
        n_q, n_k = cls + math.prod(q_thw), cls + math.prod(k_thw)
        flops += 2.0 * n * dim * 3 * att  # fused qkv
        flops += 2.0 * (n_q * math.prod(spec.kernel_q or (1,)) + 2 * n_k * math.prod(spec.kernel_kv or (1,))) * att
        flops += 4.0 * n_q * n_k * att  # scores and weighted values
        flops += 2.0 * n_q * att * sum(k_thw)  # decomposed relative positions
        flops += 2.0 * n_q * att * att  # output projection
        flops += 2.0 * n_q * (att * 4 * att + 4 * att * dim_out)  # MLP
        if dim != dim_out:
            flops += 2.0 * n_q * dim * dim_out
        thw = q_thw
    return flops


def _pooled(thw: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    if not stride:
        return thw
    return tuple((s + 2 * (k // 2) - k) // st + 1 for s, k, st in zip(thw, kernel, stride, strict=True))


def stage_costs(models: Models, clip_hw: tuple[int, int]) -> StageCosts:
    """FLOPs per unit for `models` (a pipeline `Models`); `clip_hw` is the MViT input size."""

    def params(module: Any) -> int:
        return sum(p.numel() for p in module.parameters()) if isinstance(module, torch.nn.Module) else 0

    detector = getattr(models.people.detector, "model", None)
    return StageCosts(
        detector_per_frame=DETECTOR_FLOPS_PER_PARAM * params(detector),
        hmr2_per_crop=2.0 * params(models.people.hmr2) * HMR2_TOKENS,
        mvit_per_clip=mvit_clip_flops(models.mvit.config, clip_hw),
        lart_per_window=2.0 * params(models.actions.lart) * 128,
    )


def workload_before_tracking(n_frames: int, people_per_frame: float, run_detector: bool) -> Workload:
    """The work for `n_frames` frames when about `people_per_frame` people are visible throughout."""
    people = max(1, math.ceil(people_per_frame))
    return Workload(
        frames=n_frames,
        detections=round(people_per_frame * n_frames),
        mvit_clips=people * math.ceil(n_frames / CLIP_STEP),
        lart_windows=people * math.ceil(n_frames / LART_STEP),
        run_detector=run_detector,
    )


_THROUGHPUT: dict[tuple[str, torch.dtype], float] = {}


def device_throughput(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of square matmuls on `device` in `dtype` (measured once per process, well under a second).

    On CPU one core is timed by its own CPU time and scaled by the threads torch uses: wall time on a busy
    machine would measure the other processes, not the device.
    """
    key = (str(device), dtype)
    if key not in _THROUGHPUT:
        if device.type == "cpu":
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                _THROUGHPUT[key] = _matmul_flops(device, dtype, time.process_time) * threads
            finally:
                torch.set_num_threads(threads)
        else:
            _THROUGHPUT[key] = _matmul_flops(device, dtype, time.perf_counter)
    return _THROUGHPUT[key]


def _matmul_flops(device: torch.device, dtype: torch.dtype, clock: Any) -> float:
    n = CALIBRATION_SIZE
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    (a @ b).sum().item()  # warm-up (kernel selection, thread pool)
    best = math.inf
    for _ in range(5):  # the best of 5 short runs
        start = clock()
        for _ in range(4):
            c = a @ b
        c.sum().item()  # waits for the GPU
        best = min(best, max(clock() - start, 1e-9) / 4)
    return 2.0 * n**3 / best


def estimate_run(workload: Workload, costs: StageCosts, device: torch.device, policy: PrecisionPolicy) -> Estimate:
    """Seconds per stage for `workload` on `device` under `policy`."""
    seconds: dict[str, float] = {}
    units = {
        "detector": (workload.frames if workload.run_detector else 0, costs.detector_per_frame),
        "hmr2": (workload.detections, costs.hmr2_per_crop),
        "mvit": (workload.mvit_clips, costs.mvit_per_clip),
        "lart": (workload.lart_windows, costs.lart_per_window),
    }
    for stage, (count, flops) in units.items():
        dtype = policy.stage_dtype(stage)
        seconds[stage] = count * flops / (device_throughput(device, dtype) * EFFICIENCY[stage])
    seconds["tracking"] = workload.detections * TRACKING_S_PER_DETECTION
    seconds["render"] = workload.frames * RENDER_S_PER_FRAME.get(device.type, RENDER_S_PER_FRAME["cpu"])
    return Estimate(seconds, str(device), policy.name, workload)


# ------------------------------------------------------------------------------ pipeline hooks


def announce_start(
    clip: Clip, settings: Settings, models: Models, policy: PrecisionPolicy, progress: ProgressFn
) -> tuple[StageCosts, Estimate]:
    """Before the heavy work: estimate the whole run and report it as a progress message."""
    costs = stage_costs(models, model_input_size((clip.height, clip.width), models.mvit.config.crop_size))
    people = _people_per_frame(clip, settings)
    workload = workload_before_tracking(clip.n_frames, people, run_detector=settings.boxes_file is None)
    estimate = estimate_run(workload, costs, models.people.device, policy)
    _report(estimate, progress)
    return costs, estimate


def announce_after_tracking(
    costs: StageCosts,
    tracks: Mapping[int, Track],
    counts: WorkCounts,
    models: Models,
    policy: PrecisionPolicy,
    progress: ProgressFn,
) -> Estimate:
    """Once the tracks are known: the exact MViT clips and LART windows left, and their time."""
    _clips, distinct = count_clips(tracks, models.mvit.config)
    windows = sum(len(plan_windows(len(as_track_boxes(t).fid))) for t in tracks.values())
    workload = Workload(counts.frames, counts.detections, distinct, windows, run_detector=False)
    full = estimate_run(workload, costs, models.people.device, policy)
    left = {k: v for k, v in full.seconds_by_stage.items() if k in ("mvit", "lart", "render")}
    estimate = replace(full, seconds_by_stage=left, remaining=True)
    _report(estimate, progress)
    return estimate


def _people_per_frame(clip: Clip, settings: Settings) -> float:
    """From the known-boxes file when there is one, else `ASSUMED_PEOPLE` (capped by max_people)."""
    if settings.boxes_file is not None:
        boxes = read_boxes_file(settings.boxes_file)
        counts = [len(boxes[i]) for i in range(clip.n_frames) if i in boxes]
        return min(settings.max_people, sum(counts) / max(1, clip.n_frames))
    return float(min(settings.max_people, ASSUMED_PEOPLE))


def _report(estimate: Estimate, progress: ProgressFn) -> None:
    log.info("%s (per stage: %s)", estimate.message(), {k: round(v, 1) for k, v in estimate.seconds_by_stage.items()})
    progress(estimate.message(), 0, None)
