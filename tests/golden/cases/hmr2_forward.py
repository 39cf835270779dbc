"""Golden hmr2/forward: HMR2.forward of the original code on a small random-weight model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from conftest import SMPL_SYNTHETIC
from golden.cases.compare import assert_rel

from lart_demo.models.hmr2 import load_hmr2
from lart_demo.models.smpl import load_smpl

TOL = 1e-4  # README: max |x - ref| / max(1, |ref|) <= 1e-4 for outputs and intermediates


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def smpl_files(case_dir: Path) -> tuple[Path, Path]:
    """The synthetic SMPL the case was made with: the folder beside the golden root, else the shared one,
    whichever holds files with the sha256 sums recorded in config.json."""
    config = json.loads((case_dir / "config.json").read_text())
    wanted = config["synthetic_smpl"]["sha256"]
    candidates = [case_dir.parents[1].parent / "smpl_synthetic", SMPL_SYNTHETIC]
    for folder in candidates:
        files = [folder / "SMPL_NEUTRAL.pkl", folder / "SMPL_to_J19.pkl"]
        if all(f.is_file() and _sha256(f) == wanted[f.name] for f in files):
            return files[0], files[1]
    raise AssertionError(f"no synthetic SMPL with the sha256 sums of {case_dir / 'config.json'} in {candidates}")


def run_with_intermediates(case_dir: Path, img: np.ndarray) -> dict[str, np.ndarray]:
    model = load_hmr2(case_dir / "checkpoint.ckpt", case_dir / "config.json")
    smpl = load_smpl(*smpl_files(case_dir))
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        model.backbone.patch_embed.register_forward_hook(lambda m, i, o: captured.__setitem__("patch_tokens", o[0])),
        model.backbone.register_forward_hook(lambda m, i, o: captured.__setitem__("backbone_feats", o)),
        model.smpl_head.transformer.register_forward_hook(lambda m, i, o: captured.__setitem__("decoder_token_out", o)),
    ]
    for idx, block in enumerate(model.backbone.blocks):
        name = f"vit_block{idx}_out"
        hooks.append(block.register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o)))
    with torch.no_grad():
        out = model(torch.from_numpy(img), smpl=smpl)
    for hook in hooks:
        hook.remove()
    out.update(captured)
    return {k: v.numpy() for k, v in out.items()}


def check(case_dir: Path) -> None:
    inputs = np.load(case_dir / "inputs.npz")
    expected = np.load(case_dir / "outputs.npz")
    actual = run_with_intermediates(case_dir, inputs["img"])
    for name in expected.files:
        assert name in actual, f"our HMR2 does not produce '{name}'"
        assert_rel(name, actual[name], expected[name], TOL)
