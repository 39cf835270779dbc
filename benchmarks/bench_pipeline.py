"""The whole pipeline with known boxes: per-stage wall time, executed FLOPs, TFLOP/s and peak memory.

    PYTHONPATH=. python benchmarks/bench_pipeline.py --weights /tmp/tiny_w --people 2 --seconds 1
    PYTHONPATH=. python benchmarks/bench_pipeline.py --weights weights --people 3 --seconds 10 --device cuda \
        --video clip720p.mp4

N people get fixed side-by-side boxes (no detector), so the work is known in advance. FLOPs are counted
with `torch.utils.flop_counter` (matmuls and convolutions) and attributed to the stage whose progress
message was current. "essential" FLOPs are what the cost model (lart_demo/pipeline/estimate.py) says the
work needs: HMR2 per crop, the MViT backbone once per distinct clip, LART per window; the ratio shows
what runs beyond that (RoI heads, HMAR, pose predictor, SMPL, rendering maths).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from lart_demo.config import settings_from_env
from lart_demo.pipeline.analysis import load_models
from lart_demo.pipeline.estimate import stage_costs
from lart_demo.pipeline.request import AnalysisRequest
from lart_demo.pipeline.run import run_analysis
from lart_demo.stages.appearance import model_input_size

STAGES = {  # progress message prefix -> stage name in the table
    "Finding and tracking": "people+tracking",
    "Appearance": "mvit",
    "Recognising actions": "lart",
    "Rendering": "render",
}


def boxes_file(path: Path, people: int, n_frames: int, width: int, height: int) -> Path:
    """`people` boxes side by side, the full frame height, each at least 100 x 200 px (the size filter)."""
    box_w = max(100.0, width / people - 4)
    rows = [[2 + i * (box_w + 4), 2.0, 2 + i * (box_w + 4) + box_w, height - 2.0, 0.99] for i in range(people)]
    path.write_text(json.dumps({"frames": {str(i): rows for i in range(n_frames)}}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--video", default=str(Path(__file__).resolve().parents[2] / "shared/examples/jump.mp4"))
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--no-flops", action="store_true", help="skip FLOP counting (it adds Python overhead)")
    args = parser.parse_args()

    import av  # the clip's size and rate for the boxes (PyAV is a dependency of the video reader)

    with av.open(args.video) as container:
        stream = container.streams.video[0]
        width, height, fps = stream.width, stream.height, float(stream.average_rate)
    n_frames = int(round(args.seconds * fps)) + 1
    out = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    settings = settings_from_env(
        weights_dir=args.weights,
        device=args.device,
        precision=args.precision,
        boxes_file=boxes_file(out / "boxes.json", args.people, n_frames, width, height),
        output_dir=out,
    )
    load_models(settings)  # not timed: loading is once per process
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    counter = FlopCounterMode(display=False)
    flops: dict[str, float] = {}
    current = ["setup", 0.0]

    def progress(stage: str, done: int, total: int | None) -> None:
        name = next((v for k, v in STAGES.items() if stage.startswith(k)), None)
        if name and name != current[0]:
            total_now = counter.get_total_flops() if not args.no_flops else 0
            flops[current[0]] = flops.get(current[0], 0.0) + total_now - current[1]
            current[:] = [name, total_now]

    start = time.perf_counter()
    with counter if not args.no_flops else torch.no_grad():
        result_dir = run_analysis(AnalysisRequest(args.video, settings, end_s=args.seconds), progress).out_dir
    wall = time.perf_counter() - start
    total_now = counter.get_total_flops() if not args.no_flops else 0
    flops[current[0]] = flops.get(current[0], 0.0) + total_now - current[1]
    data = json.loads((result_dir / "results.json").read_text())
    work, timings = data["work"], data["timings_s"]
    seconds = {
        "people+tracking": timings.get("people_and_tracking", 0.0),
        "mvit": timings.get("appearance", 0.0),
        "lart": timings.get("actions", 0.0),
        "render": timings.get("render", 0.0),
    }
    models = load_models(settings)
    costs = stage_costs(models, model_input_size((height, width), models.mvit.config.crop_size))
    essential = (
        work["hmr2_crops"] * costs.hmr2_per_crop
        + work["mvit_backbone_passes"] * costs.mvit_per_clip
        + work["lart_windows"] * costs.lart_per_window
    )
    executed = sum(flops.values())
    print(
        f"device {args.device}, precision {data['precision']['effective']}, {args.people} people, "
        f"{work['frames']} frames ({args.seconds:g} s of {Path(args.video).name}, {width}x{height})"
    )
    print(f"work: {work}")
    print("| stage | wall s | GFLOP executed | GFLOP/s |")
    print("|---|---|---|---|")
    for stage, secs in seconds.items():
        gflop = flops.get(stage, 0.0) / 1e9
        rate = gflop / secs if secs > 0 else 0.0
        print(f"| {stage} | {secs:.1f} | {gflop:.1f} | {rate:.2f} |")
    print(f"| total (wall incl. decode/writes) | {wall:.1f} | {executed / 1e9:.1f} | {executed / 1e9 / wall:.2f} |")
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    gpu = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if args.device.startswith("cuda") else "n/a"
    ratio = executed / essential if essential and not args.no_flops else float("nan")
    print(f"peak host RSS {rss_gb:.2f} GiB (incl. model loading); peak GPU memory {gpu}")
    print(f"essential {essential / 1e9:.1f} GFLOP; executed / essential = {ratio:.2f}")


if __name__ == "__main__":
    main()
