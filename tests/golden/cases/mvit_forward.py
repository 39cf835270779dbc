"""Golden mvit/forward: the fork's MViT.forward (backbone intermediates, RoI head preds and feats)."""

from __future__ import annotations

import pathlib

import numpy as np
import torch
from golden.cases.compare import assert_equal, assert_rel

from lart_demo.models.mvit import load_mvit

TOL = 1e-4  # README: max |x - ref| / max(1, |ref|) for preds, feats, head_in and intermediates


def check(case_dir: pathlib.Path) -> None:
    model = load_mvit(case_dir / "checkpoint.pyth", case_dir / "config.json")
    inputs = np.load(case_dir / "inputs.npz")
    ref = np.load(case_dir / "outputs.npz")
    trace: dict[str, object] = {}
    with torch.no_grad():
        preds, feats = model(torch.from_numpy(inputs["clip"]), torch.from_numpy(inputs["boxes"]), trace=trace)
    for name in ref.files:
        if name.endswith("_thw"):
            assert_equal(name, np.asarray(trace[name], dtype=np.int64), ref[name])
        elif name in ("preds", "feats"):
            continue
        else:
            assert_rel(name, trace[name], ref[name], TOL)
    assert_rel("feats", feats, ref["feats"], TOL)
    assert_rel("preds", preds, ref["preds"], TOL)
