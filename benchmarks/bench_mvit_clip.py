"""Peak host memory and time of ONE MViT clip at batch 1 (the released model's shape by default).

    PYTHONPATH=. python benchmarks/bench_mvit_clip.py --weights /tmp/full_w  # full-size random weights
    PYTHONPATH=. python benchmarks/bench_mvit_clip.py --weights /tmp/full_w --materialised  # the old attention map

Prints one table row: clip shape, attention chunk bytes, seconds, peak RSS (GB) of this process, and the
longest stretch between two of the backbone's step reports (after every block and attention chunk). The
appearance stage checks cancel at those reports on CPU, so that stretch is how long a cancel can wait.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from lart_demo.models import mvit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="weights folder (e.g. from `weights make-random`)")
    parser.add_argument("--width", type=int, default=374, help="clip width in pixels (312 is the short side)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--materialised", action="store_true", help="one chunk holding the whole attention map (the old code)"
    )
    args = parser.parse_args()
    model = mvit.load_mvit_from_weights(args.weights, device=args.device)
    if args.materialised:
        for module in model.modules():
            if isinstance(module, mvit.MultiScaleAttention):
                module.chunk_bytes = 1 << 62
    cfg = model.config
    clip = torch.randn(1, 3, cfg.num_frames, cfg.crop_size, args.width, device=args.device)
    boxes = torch.tensor([[0.0, 40.0, 30.0, 200.0, 300.0]], device=args.device)
    marks = [time.perf_counter()]
    with torch.inference_mode():
        features = model.forward_features(clip, on_step=lambda: marks.append(time.perf_counter()))
        model.head(features, boxes)
    marks.append(time.perf_counter())
    seconds = marks[-1] - marks[0]
    longest = max(b - a for a, b in zip(marks, marks[1:], strict=False))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    chunk = "full map" if args.materialised else f"{mvit.ATTN_CHUNK_BYTES >> 20} MiB"
    print("| clip (T x H x W) | attention | seconds | peak RSS GB | longest s between step reports |")
    print("|---|---|---|---|---|")
    print(
        f"| {cfg.num_frames} x {cfg.crop_size} x {args.width} | {chunk} | {seconds:.1f} | {peak_gb:.2f} "
        f"| {longest:.1f} |"
    )


if __name__ == "__main__":
    main()
