"""How far bf16 autocast moves each golden case, measured on CPU (the README's precision table).

    PYTHONPATH=.:tests python benchmarks/precision_goldens.py

Runs every golden check twice, in float32 and under bf16 autocast on the CPU (every network of the case,
a harsher setting than `--precision bf16`, which keeps SMPL, HMAR costs, the pose predictor and LART in
float32). The checks' comparisons are recorded instead of asserted: the table gives, per case, the
maximum relative deviation max |x - ref| / max(1, |ref|) over all compared float outputs, whether the
association golden's matches and the smooth_tracks golden's top-3 labels still equal the reference, and
the first exact comparison that changed. The reference outputs are float32 runs of the original code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
from golden.cases import compare  # tests/ is on PYTHONPATH (see the usage line)

from lart_demo import precision
from lart_demo.stages import appearance, people

CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden" / "cases"


class Recorder:
    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_name = ""
        self.changed: list[str] = []

    def rel(self, name: str, actual: object, expected: object, *_args: object, **_kwargs: object) -> None:
        a = compare._as_np(actual).astype(np.float64)
        e = compare._as_np(expected).astype(np.float64)
        if a.shape != e.shape:
            self.changed.append(f"{name} (shape)")
            return
        err = np.abs(np.nan_to_num(a) - np.nan_to_num(e)) / np.maximum(1.0, np.abs(np.nan_to_num(e)))
        worst = float(err.max()) if err.size else 0.0
        if worst > self.worst:
            self.worst, self.worst_name = worst, name

    def equal(self, name: str, actual: object, expected: object) -> None:
        a, e = compare._as_np(actual), compare._as_np(expected)
        if a.shape != e.shape or not np.array_equal(a, e):
            self.changed.append(name)


def _as_np(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()  # type: ignore[union-attr]  # numpy has no bfloat16
    return np.asarray(x)


_TENSOR_NUMPY = torch.Tensor.numpy


def _numpy_upcasting_bf16(self: torch.Tensor, *args: object, **kwargs: object) -> np.ndarray:
    """Tensor.numpy that reads bfloat16 as float32 (numpy has no bfloat16; checks call .numpy() themselves)."""
    tensor = self.float() if self.dtype == torch.bfloat16 else self
    return _TENSOR_NUMPY(tensor, *args, **kwargs)


def run_case(case: Path, bf16: bool) -> tuple[Recorder, str | None]:
    recorder = Recorder()
    torch.Tensor.numpy = _numpy_upcasting_bf16 if bf16 else _TENSOR_NUMPY  # type: ignore[method-assign]
    compare._as_np = _as_np
    compare.assert_rel = recorder.rel  # the case modules import these names when they are loaded below
    compare.assert_close = recorder.rel
    compare.assert_equal = recorder.equal
    runner = CASES_DIR / f"{case.parent.name}_{case.name}.py"
    spec = importlib.util.spec_from_file_location(f"golden_{case.parent.name}_{case.name}_{bf16}", runner)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    # Stages given no policy run fp32 and switch autocast off: give them the bf16 policy instead.
    default = precision.precision_policy if bf16 else precision.fp32_policy
    for stage_module in (appearance, people):
        stage_module.fp32_policy = (lambda device: default("bf16", device)) if bf16 else precision.fp32_policy
    failure = None
    try:
        with context:
            module.check(case)
    except AssertionError as exc:  # a plain assert of the check (ids, matches): the first change it saw
        failure = str(exc).splitlines()[0][:90]
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other cases still run
        failure = f"error: {type(exc).__name__}: {str(exc)[:70]}"
    return recorder, failure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--golden-root", type=Path, default=None, help="default: tests' GOLDEN_ROOT")
    args = parser.parse_args()
    from conftest import GOLDEN_ROOT  # tests/conftest.py knows where the goldens live

    root = args.golden_root or GOLDEN_ROOT
    torch.manual_seed(0)
    print("| golden case | fp32 max rel dev | bf16 max rel dev (worst output) | exact outputs changed under bf16 |")
    print("|---|---|---|---|")
    for case in sorted(p for p in root.glob("*/*") if (p / "outputs.npz").is_file()):
        fp32, fp32_fail = run_case(case, bf16=False)
        bf16, bf16_fail = run_case(case, bf16=True)
        changed = ", ".join(bf16.changed[:3]) + (" ..." if len(bf16.changed) > 3 else "")
        if bf16_fail:
            changed = (changed + "; " if changed else "") + bf16_fail
        if fp32_fail or fp32.changed:
            changed += f" (fp32 also: {fp32_fail or fp32.changed[:2]})"
        print(
            f"| {case.parent.name}/{case.name} | {_fmt(fp32.worst)} | {_fmt(bf16.worst)} ({bf16.worst_name}) "
            f"| {changed or 'none'} |"
        )


def _fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}" if math.isfinite(x) else str(x)


if __name__ == "__main__":
    main()
