"""Is a file the one the manifest describes? Size, sha256 and a structural check per file kind."""

from __future__ import annotations

import hashlib
import json
import pickle
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lart_demo.config import Settings
from lart_demo.errors import LartDemoError, WeightsError
from lart_demo.safe_load import PICKLE_KINDS, load_npy, load_pickle
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import ManifestFile

CHUNK = 1 << 20


def size_problem(entry: ManifestFile, size: int) -> str | None:
    """Why a file of `size` bytes cannot be the entry's file, or None."""
    if entry.size is not None and size != entry.size:
        return f"wrong size: {size} bytes, expected {entry.size}"
    if size == 0:
        return "empty file"
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"  # torch.save before 1.6: pickle protocol 2 starting with a magic long


def _check_content(path: Path, check: dict[str, Any]) -> None:
    """Structural check for files whose hash is unknown: catches error pages, truncation, wrong files."""
    kind = check.get("kind")
    name = path.name
    try:
        if kind == "torch":
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    if not any(n.endswith("data.pkl") for n in zf.namelist()):
                        raise ValueError("a zip file without a torch data.pkl")
                    bad = zf.testzip() if path.stat().st_size < (64 << 20) else None  # CRC check on small files
                    if bad:
                        raise ValueError(f"corrupt member {bad}")
            else:
                with path.open("rb") as fh:
                    if fh.read(4) != _TORCH_LEGACY_MAGIC:
                        raise ValueError("not a torch checkpoint (neither zip nor legacy format)")
        elif kind == "yaml":
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a YAML mapping")
        elif kind == "npz":
            with np.load(path, allow_pickle=False) as data:
                lacking = [k for k in check.get("keys", []) if k not in data.files]
            if lacking:
                raise ValueError(f"lacks arrays {lacking}")
        elif kind in ("npy", "pickle"):
            # read fully through the file's own allow-list: a payload is refused here, at download time
            loader = PICKLE_KINDS.get(check.get("loader", ""))
            if loader is None:
                raise ValueError(f"the manifest names no known loader for this {kind} file")
            (load_npy if kind == "npy" else load_pickle)(path, loader)
        elif kind == "json":
            json.loads(path.read_text(encoding="utf-8"))
        elif kind == "smpl":
            from lart_demo.models.smpl import load_smpl_pickle

            load_smpl_pickle(path)
        elif kind:
            raise ValueError(f"unknown check kind {kind!r} in the manifest")
    except WeightsError:
        raise
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"{name} is not a valid {kind} file ({exc}); the server may have sent an error page."
        ) from exc
    except Exception as exc:  # yaml.YAMLError and friends: report, never hide
        raise WeightsError(f"{name} is not a valid {kind} file ({type(exc).__name__}: {exc}).") from exc


def verify_file(path: Path, entry: ManifestFile, *, released: bool = True) -> None:
    """Raise WeightsError unless `path` passes the entry's content check and, for `released` files,
    its size and sha256 (or sha256 prefix). Random weights (`released=False`) only get the content check."""
    size = path.stat().st_size
    problem = size_problem(entry, size) if released else None
    if problem:
        raise WeightsError(f"{entry.path}: {problem}.")
    if released and (entry.sha256 or entry.sha256_prefix):
        digest = sha256_of(path)
        expected = entry.sha256 or entry.sha256_prefix or ""
        if not digest.startswith(expected.lower()):
            raise WeightsError(f"{entry.path}: sha256 mismatch (got {digest[:16]}..., expected {expected[:16]}...).")
    if entry.check:
        _check_content(path, entry.check)


# ----------------------------------------------------------------------------------------------
# `weights verify`: every model built, loaded and run once on a synthetic input


@dataclass(frozen=True)
class ModelCheck:
    name: str
    ok: bool
    params: int  # parameter count of the loaded model (0 when it failed)
    seconds: float  # build + load + one forward
    reason: str  # one line when not ok


def _run_detector(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.detector import load_detector

    model = load_detector(files.detector_checkpoint, files.detector_config, device)
    model([torch.rand(3, 96, 128, device=device)])
    return model


def _run_hmr2(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.hmr2 import load_hmr2

    model = load_hmr2(files.hmr2_checkpoint, files.hmr2_config, device)
    model(torch.zeros(1, 3, model.cfg.image_size, model.cfg.image_size, device=device))
    return model


def _run_smpl(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.smpl import load_smpl

    model = load_smpl(files.smpl_neutral_clean, files.smpl_to_j19, device)
    eye = torch.eye(3, device=device)
    model(eye.expand(1, 1, 3, 3), eye.expand(1, 23, 3, 3), torch.zeros(1, 10, device=device))
    return model


def _run_hmar(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.hmar import load_hmar

    model = load_hmar(files.hmar_checkpoint, None, device)
    model.appearance(torch.zeros(1, 4, 256, 256, device=device))
    return model


def _run_pose_predictor(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.pose_predictor import POSE_DIM, load_pose_predictor

    model = load_pose_predictor(
        files.pose_predictor_checkpoint, files.pose_predictor_config, device, mean_std=files.mean_std
    )
    model.predict_next(torch.zeros(1, 7, POSE_DIM), torch.arange(7)[None], torch.zeros(1, dtype=torch.int64))
    return model


def _run_mvit(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.mvit import load_mvit

    model = load_mvit(files.mvit_checkpoint, files.mvit_config, device)
    cfg = model.config
    clip = torch.zeros(1, 3, cfg.num_frames, cfg.crop_size, cfg.crop_size, device=device)
    model(clip, torch.tensor([[0.0, 0.0, 0.0, cfg.crop_size - 1.0, cfg.crop_size - 1.0]], device=device))
    return model


def _run_lart(files: WeightFiles, device: Any) -> Any:
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.models.lart import load_lart

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
    import torch  # heavy: only `weights verify` needs the models

    from lart_demo.device import resolve_device
    from lart_demo.weights.smpl import ensure_smpl

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
