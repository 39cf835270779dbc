"""Rendering speed: frames/s of the full frame renderer (meshes + labels) for N people at a few sizes.

    PYTHONPATH=. python benchmarks/bench_render.py [--smpl-dir DIR] [--backends auto,cpu] [--frames 10]
    PYTHONPATH=. python benchmarks/bench_render.py --screenshot docs/render_frame.jpg   # the README picture

Compares pyrender (EGL on a GPU, Mesa llvmpipe or OSMesa on CPU) with the numpy fallback. Uses the
synthetic SMPL model by default (same vertex/face counts as the real one, so the cost is the same).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lart_demo.models.smpl import load_smpl  # noqa: E402
from lart_demo.render.backends import create_mesh_renderer  # noqa: E402
from lart_demo.render.video import FrameRenderer, RenderOptions, RenderPerson  # noqa: E402

SIZES = [(288, 398), (720, 1280), (1080, 1920)]
PEOPLE = [1, 4, 10]


def make_people(smpl, n: int, seed: int = 0) -> list[RenderPerson]:
    rng = np.random.default_rng(seed)
    go = np.stack([cv2.Rodrigues(np.array([np.pi, 0, 0]) + rng.normal(0, 0.2, 3))[0] for _ in range(n)])[:, None]
    bp = np.stack([[cv2.Rodrigues(rng.normal(0, 0.3, 3))[0] for _ in range(23)] for _ in range(n)])
    with torch.no_grad():
        out = smpl(torch.tensor(go).float(), torch.tensor(bp).float(), torch.zeros(n, 10))
    people = []
    for k in range(n):
        x = -0.6 + 1.2 * (k + 0.5) / n  # spread people across the frame, as a crowd would be
        cam_t = np.array([x, rng.uniform(-0.05, 0.05), rng.uniform(60, 90)])
        labels = [("stand", 0.8), ("talk to (e.g., self, a person, a group)", 0.5), ("watch (a person)", 0.3)]
        people.append(RenderPerson(k + 1, out.vertices[k].numpy(), cam_t, joints=out.joints[k].numpy(), labels=labels))
    return people


def cam_t_for_box(center: np.ndarray, box_size: float, height: int, width: int, scale: float = 0.9) -> np.ndarray:
    """PHALP's full-image translation (phalp_spec.md 4.1) of a body centred in a square box, crop camera (s, 0, 0)."""
    side = max(height, width)
    r = 256 / side
    cx = (center[0] + (side - width) // 2) * r
    cy = (center[1] + (side - height) // 2) * r
    tz = 2 * 5000 / (scale * box_size * r)
    return np.array([(cx - 128) * tz / 5000, (cy - 128) * tz / 5000, tz])


def screenshot(smpl, clip_path: Path, out_path: Path) -> None:
    """Frame 40 of jump.mp4, side by side, with synthetic bodies placed on the two hurdlers' boxes."""
    from lart_demo.render.backends import NumpyMeshRenderer

    cap = cv2.VideoCapture(str(clip_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, bgr = cap.read()
    if not ok:
        raise SystemExit(f"cannot read {clip_path}")
    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = frame.shape[:2]
    people = make_people(smpl, 2)
    boxes = [(np.array([120.0, 128.0]), 140.0), (np.array([352.0, 103.0]), 90.0)]  # hand-placed on the athletes
    labels = [[("run/jog", 0.91), ("jump/leap", 0.44), ("stand", 0.12)], [("jump/leap", 0.78), ("run/jog", 0.65)]]
    for person, (center, size), person_labels in zip(people, boxes, labels, strict=True):
        person.cam_t = cam_t_for_box(center, size, h, w)
        person.labels = person_labels
    choice = create_mesh_renderer("auto")
    renderer = choice.renderer if choice.renderer.name.startswith("pyrender") else NumpyMeshRenderer()
    draw = FrameRenderer(smpl.faces, RenderOptions(render_style="side-by-side"), renderer=renderer)
    image = cv2.resize(draw(frame, people), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {out_path} ({renderer.name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smpl-dir", type=Path, default=ROOT.parent / "shared" / "reference" / "smpl_synthetic")
    parser.add_argument("--backends", default="auto,cpu", help="comma list of auto|egl|osmesa|cpu")
    parser.add_argument("--frames", type=int, default=10, help="timed frames per case (after one warm-up)")
    parser.add_argument("--screenshot", type=Path, help="write a rendered frame of jump.mp4 here and stop")
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "examples" / "jump.mp4")
    args = parser.parse_args()

    smpl = load_smpl(args.smpl_dir / "SMPL_NEUTRAL.pkl", args.smpl_dir / "SMPL_to_J19.pkl")
    if args.screenshot:
        screenshot(smpl, args.clip, args.screenshot)
        return
    print(f"torch threads {torch.get_num_threads()}; SMPL faces {len(smpl.faces)}")
    print(f"{'backend':<16} {'size':>10} {'people':>6} {'ms/frame':>9} {'frames/s':>9}")
    for backend in args.backends.split(","):
        choice = create_mesh_renderer(backend.strip())
        name = choice.renderer.name
        for height, width in SIZES:
            frame = np.full((height, width, 3), 100, np.uint8)
            draw = FrameRenderer(smpl.faces, RenderOptions(render_style="mesh+labels"), renderer=choice.renderer)
            for n in PEOPLE:
                people = make_people(smpl, n)
                draw(frame, people)  # warm-up: context creation, buffer allocation
                start = time.perf_counter()
                for _ in range(args.frames):
                    draw(frame, people)
                ms = 1000 * (time.perf_counter() - start) / args.frames
                print(f"{name:<16} {width:>5}x{height:<4} {n:>6} {ms:>9.1f} {1000 / ms:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
