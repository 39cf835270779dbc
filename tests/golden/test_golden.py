"""Golden fixtures: the ORIGINAL implementations' outputs, reproduced by our models.

Every case folder under the golden root (env LART_DEMO_GOLDEN_ROOT) becomes a test whose id
contains `<model>/<case>`. The check for a case lives in `tests/golden/cases/<model>_<case>.py`
as `check(case_dir)`; it builds the model from the case's config.json, loads checkpoint.* through
the product's own loader and compares with outputs.npz at the tolerance of the case's README.
A case whose model is not built yet is a strict xfail naming that model, so it turns red the
day the model lands without passing. Shapes come from the files, never from constants here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import GOLDEN_ROOT

CASES_DIR = Path(__file__).parent / "cases"

MODEL_MODULES = {
    "hmr2": "HMR2.0 (lart_demo/models/hmr2.py)",
    "phalp": "PHALP tracking (lart_demo/models/hmar.py, pose_predictor.py, stages/tracking/)",
    "mvit": "AVA MViT (lart_demo/models/mvit.py, lart_demo/stages/appearance.py)",
    "lart": "LART (lart_demo/models/lart.py, stages/tracking/tracks.py)",
}


# cases that run the tracker over many frames or a full-width model: seconds to minutes on 2 cores
SLOW_CASES = {"phalp/association", "hmr2/forward", "lart/fast_track"}


def _case_dirs() -> list[Path]:
    if not GOLDEN_ROOT.is_dir():
        return []
    return sorted(p for p in GOLDEN_ROOT.glob("*/*") if p.is_dir() and (p / "outputs.npz").is_file())


def _runner_path(case: Path) -> Path:
    return CASES_DIR / f"{case.parent.name}_{case.name}.py"


def _params() -> list[object]:
    params = []
    for case in _case_dirs():
        case_id = f"{case.parent.name}/{case.name}"
        marks = [pytest.mark.slow] if case_id in SLOW_CASES else []
        if not _runner_path(case).is_file():
            model = MODEL_MODULES.get(case.parent.name, f"the '{case.parent.name}' model")
            marks.append(pytest.mark.xfail(strict=True, reason=f"{model} is not built yet"))
        params.append(pytest.param(case, id=case_id, marks=marks))
    return params


def test_golden_root_has_cases() -> None:
    assert _case_dirs(), f"no golden case folders under {GOLDEN_ROOT} (set LART_DEMO_GOLDEN_ROOT)"


@pytest.mark.parametrize("case", _params())
def test_golden_case(case: Path) -> None:
    runner = _runner_path(case)
    if not runner.is_file():
        raise NotImplementedError(f"no golden check {runner.name} for {case.parent.name}/{case.name}")
    spec = importlib.util.spec_from_file_location(f"golden_{case.parent.name}_{case.name}", runner)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.check(case)
