"""HMR2.0 throughput: crops per second at batch sizes 1, 8, 32 (tiny and full config), plus the SMPL step.

    PYTHONPATH=. python benchmarks/bench_hmr2.py                      # tiny + full on the default device
    PYTHONPATH=. python benchmarks/bench_hmr2.py --configs tiny --device cpu --threads 2
    PYTHONPATH=. python benchmarks/bench_hmr2.py --configs full --device cuda --batch-sizes 1 8 32 64

Random weights, built in memory (no files needed). CUDA runs under autocast (bf16 where supported,
else fp16) like the people stage; CPU runs float32. The full model on CPU is slow (about 1 s per
crop on 2 cores), so by default it is measured with one repetition and batch sizes up to 8 there.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lart_demo.models.camera import person_3d_parameters
from lart_demo.models.hmr2 import build_hmr2, released_config, tiny_config
from lart_demo.models.smpl import SMPL, load_smpl_pickle, write_random_smpl


def _autocast(device: torch.device) -> torch.autocast:
    if device.type != "cuda":
        return torch.autocast("cpu", enabled=False)
    return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_hmr2(model: torch.nn.Module, batch: int, repeats: int, device: torch.device) -> float:
    """Seconds per forward of `batch` crops (median of `repeats` after one warm-up)."""
    img = torch.randn(batch, 3, 256, 256, device=device)
    times = []
    with torch.no_grad(), _autocast(device):
        model(img)
        _sync(device)
        for _ in range(repeats):
            start = time.perf_counter()
            model(img)
            _sync(device)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_smpl(smpl: SMPL, batch: int, repeats: int, device: torch.device) -> float:
    """Seconds for SMPL + cameras + embeddings (`person_3d_parameters`) of `batch` people."""
    eye = torch.eye(3, device=device)
    args = (
        eye.expand(batch, 1, 3, 3),
        eye.expand(batch, 23, 3, 3),
        torch.zeros(batch, 10, device=device),
        torch.tensor([[0.9, 0.0, 0.0]], device=device).expand(batch, 3),
    )
    center, scale = np.full((batch, 2), 200.0), np.full((batch, 2), 300.0)
    person_3d_parameters(smpl, *args, center, scale, (720, 1280))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        person_3d_parameters(smpl, *args, center, scale, (720, 1280))
        _sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["tiny", "full"], choices=["tiny", "full"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-cpu-max-batch", type=int, default=8, help="skip larger full-config batches on CPU")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        body = write_random_smpl(Path(tmp) / "smpl.npz")
        j19 = np.random.default_rng(0).random((19, 6890))
        smpl = SMPL(load_smpl_pickle(body), j19 / j19.sum(1, keepdims=True)).to(device).eval()

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"HMR2.0 throughput on {name}, torch {torch.__version__}")
    print(f"{'config':<6} {'batch':>5} {'s/batch':>9} {'crops/s':>9} {'SMPL+cam s':>11} {'total crops/s':>14}")
    for config_name in args.configs:
        config = tiny_config() if config_name == "tiny" else released_config()
        torch.manual_seed(0)
        start = time.perf_counter()
        with torch.device(device):
            model = build_hmr2(config).eval()
        build_s = time.perf_counter() - start
        full_on_cpu = config_name == "full" and device.type == "cpu"
        repeats = 1 if full_on_cpu else args.repeats
        for batch in args.batch_sizes:
            if full_on_cpu and batch > args.full_cpu_max_batch:
                print(f"{config_name:<6} {batch:>5} {'skipped (CPU; raise --full-cpu-max-batch)':>40}")
                continue
            seconds = time_hmr2(model, batch, repeats, device)
            smpl_s = time_smpl(smpl, batch, repeats, device)
            print(
                f"{config_name:<6} {batch:>5} {seconds:>9.4f} {batch / seconds:>9.3g} {smpl_s:>11.4f} "
                f"{batch / (seconds + smpl_s):>14.3g}"
            )
        print(f"# {config_name}: built in {build_s:.1f} s, {sum(p.numel() for p in model.parameters()):,} parameters")
        del model


if __name__ == "__main__":
    main()
