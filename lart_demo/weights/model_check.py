"""`weights verify`: every model built from the weights folder, loaded and run once on a synthetic input.

Kept apart from the file checks in verify.py because it imports torch and every model: the other weights
commands stay light.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lart_demo.config import Settings
from lart_demo.device import resolve_device
from lart_demo.errors import LartDemoError
from lart_demo.models.detector import load_detector
from lart_demo.models.hmar import load_hmar
from lart_demo.models.hmr2 import load_hmr2
from lart_demo.models.lart import load_lart
from lart_demo.models.mvit import load_mvit
from lart_demo.models.pose_predictor import POSE_DIM, load_pose_predictor
from lart_demo.models.smpl import load_smpl
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.smpl import ensure_smpl


@dataclass(frozen=True)
class ModelCheck:
    name: str
    ok: bool
    params: int  # parameter count of the loaded model (0 when it failed)
    seconds: float  # build + load + one forward
    reason: str  # one line when not ok


def _run_detector(files: WeightFiles, device: Any) -> Any:
    model = load_detector(files.detector_checkpoint, files.detector_config, device)
    model([torch.rand(3, 96, 128, device=device)])
    return model


def _run_hmr2(files: WeightFiles, device: Any) -> Any:
    model = load_hmr2(files.hmr2_checkpoint, files.hmr2_config, device)
    model(torch.zeros(1, 3, model.cfg.image_size, model.cfg.image_size, device=device))
    return model


def _run_smpl(files: WeightFiles, device: Any) -> Any:
    model = load_smpl(files.smpl_neutral_clean, files.smpl_to_j19, device)
    eye = torch.eye(3, device=device)
    model(eye.expand(1, 1, 3, 3), eye.expand(1, 23, 3, 3), torch.zeros(1, 10, device=device))
    return model


def _run_hmar(files: WeightFiles, device: Any) -> Any:
    model = load_hmar(files.hmar_checkpoint, None, device)
    model.appearance(torch.zeros(1, 4, 256, 256, device=device))
    return model


def _run_pose_predictor(files: WeightFiles, device: Any) -> Any:
    model = load_pose_predictor(
        files.pose_predictor_checkpoint, files.pose_predictor_config, device, mean_std=files.mean_std
    )
    model.predict_next(torch.zeros(1, 7, POSE_DIM), torch.arange(7)[None], torch.zeros(1, dtype=torch.int64))
    return model


def _run_mvit(files: WeightFiles, device: Any) -> Any:
    model = load_mvit(files.mvit_checkpoint, files.mvit_config, device)
    cfg = model.config
    clip = torch.zeros(1, 3, cfg.num_frames, cfg.crop_size, cfg.crop_size, device=device)
    model(clip, torch.tensor([[0.0, 0.0, 0.0, cfg.crop_size - 1.0, cfg.crop_size - 1.0]], device=device))
    return model


def _run_lart(files: WeightFiles, device: Any) -> Any:
    model = load_lart(files.lart_checkpoint, files.lart_config, device)
    cfg = model.config
    frames = cfg.frame_length

    def zeros(dim: int) -> Any:
        return torch.zeros(1, frames, dim, device=device)

    tokens = model.encode(
        zeros(cfg.pose_shape.dim),
        torch.zeros(1, frames, dtype=torch.bool, device=device),
        zeros(cfg.joints_3d.dim) if cfg.uses_joints else None,
        zeros(cfg.appearance.dim) if cfg.uses_appearance else None,
    )
    model.readout(tokens[0])
    return model


MODEL_CHECKS = {
    "detector": _run_detector,
    "hmr2": _run_hmr2,
    "smpl": _run_smpl,
    "hmar": _run_hmar,
    "pose_predictor": _run_pose_predictor,
    "mvit": _run_mvit,
    "lart": _run_lart,
}


def verify_models(settings: Settings, device: str | None = None) -> list[ModelCheck]:
    """Build, load and run each model once on a synthetic input; a failure is a one-line reason, never a traceback.

    A file that would run code when loaded is refused by the loaders (weights-only unpickling), so it
    shows here as a failed model.
    """
    files = WeightFiles(Path(settings.weights_dir))
    chosen = resolve_device(device or settings.device)
    results = []
    for name, run in MODEL_CHECKS.items():
        start = time.perf_counter()
        try:
            if name == "smpl":
                ensure_smpl(settings)
            with torch.no_grad():
                model = run(files, chosen)
            params = sum(p.numel() for p in model.parameters())
            results.append(ModelCheck(name, True, params, time.perf_counter() - start, ""))
        except (LartDemoError, RuntimeError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            # RuntimeError & co: a forward that does not fit the file (shapes, dtypes) - reported, never hidden
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            results.append(ModelCheck(name, False, 0, time.perf_counter() - start, f"{type(exc).__name__}: {reason}"))
    return results
