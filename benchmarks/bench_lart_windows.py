"""LART windows: one batched encoder call for all windows of all tracks vs one window at a time.

The LART demo runs the encoder once per 32-frame step of every track; `predict_actions` stacks the
windows of all tracks into one batch. Both paths run here on the same synthetic tracks with the
full-size model (random weights: speed does not depend on the values), on CPU and, when present, on
the GPU, and the table prints the speed-up. Results are also checked to be identical.

    python -m benchmarks.bench_lart_windows [--tracks 6] [--frames 180] [--profile full] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from lart_demo.contracts import Track
from lart_demo.models.lart import LART, LartConfig, build_lart, randomise_weights, tiny_lart_config
from lart_demo.stages.actions import plan_windows, predict_actions


def synthetic_tracks(n: int, frames: int, appearance_dim: int, seed: int = 0) -> dict[int, Track]:
    """Tracks of `frames`, `frames`-17, ... frames with a few gaps each (what LART reads of a `Track`)."""
    rng = np.random.default_rng(seed)
    tracks = {}
    for tid in range(n):
        length = max(1, frames - 17 * tid)
        has = rng.random(length) > 0.1
        tracks[tid] = Track(
            track_id=tid,
            frame_index=np.arange(length),
            has_detection=has,
            listed=np.ones(length, bool),
            boxes_tlwh=np.zeros((length, 4)),
            box_conf=np.zeros(length),
            global_orient=np.zeros((length, 1, 3, 3), np.float32),
            body_pose=np.zeros((length, 23, 3, 3), np.float32),
            betas=np.zeros((length, 10), np.float32),
            cam_t=np.zeros((length, 3), np.float32),
            camera_bbox=np.zeros((length, 3)),
            joints_3d=rng.normal(size=(length, 45, 3)),
            camera=rng.normal(size=(length, 3)),
            pose_shape=rng.normal(size=(length, 229)) * has[:, None],
            appearance=rng.normal(size=(length, appearance_dim)).astype(np.float32),
        )
    return tracks


def _time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up (allocations, kernels)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(model: LART, tracks: dict, mean_std: np.ndarray, device: torch.device, repeats: int) -> dict[str, float]:
    model = model.to(device)
    batched = predict_actions(tracks, model, mean_std)
    looped = predict_actions(tracks, model, mean_std, batch_windows=1)
    worst = max(float(np.abs(batched[t].logits - looped[t].logits).max()) for t in tracks)
    t_loop = _time(lambda: predict_actions(tracks, model, mean_std, batch_windows=1), repeats, device)
    t_batch = _time(lambda: predict_actions(tracks, model, mean_std), repeats, device)
    return {"loop": t_loop, "batched": t_batch, "max_logit_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--frames", type=int, default=180, help="length of the longest track")
    parser.add_argument("--profile", choices=("full", "tiny"), default="full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = LartConfig() if args.profile == "full" else tiny_lart_config()
    model = build_lart(config)
    randomise_weights(model, seed=0)
    model.eval()
    tracks = synthetic_tracks(args.tracks, args.frames, config.appearance.dim)
    rng = np.random.default_rng(1)
    mean_std = np.stack([rng.normal(size=(1, 226)), rng.uniform(0.5, 1.5, size=(1, 226))])
    windows = sum(len(plan_windows(t["pose_shape"].shape[0])) for t in tracks.values())
    frames = sum(t["pose_shape"].shape[0] for t in tracks.values())

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(
        f"LART {args.profile} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters), "
        f"{args.tracks} tracks, {frames} frames, {windows} windows of {config.frame_length} slots; "
        f"median of {args.repeats}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    print("| device | one window at a time (s) | batched (s) | speed-up | max |logit diff| |")
    print("|---|---|---|---|---|")
    for device in devices:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        r = bench(model, tracks, mean_std, device, args.repeats)
        print(
            f"| {name} | {r['loop']:.3f} | {r['batched']:.3f} | {r['loop'] / r['batched']:.2f}x "
            f"| {r['max_logit_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
