"""Two real processes analyse the same clip into one output folder: one computes, the other reuses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lart_demo.video.examples import write_example_clip

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from lart_demo.config import Settings
    from lart_demo.pipeline.request import AnalysisRequest
    from lart_demo.pipeline.run import run_analysis

    clip, weights, out = sys.argv[1:4]
    stages = []
    settings = Settings(weights_dir=Path(weights), output_dir=Path(out), device="cpu")
    result = run_analysis(AnalysisRequest(clip, settings, render=False), lambda s, d, t: stages.append(s))
    waited = any("Waiting" in s for s in stages)
    print(json.dumps({"cached": result.cached, "dir": str(result.out_dir), "waited": waited}))
    """
)


@pytest.mark.slow
def test_two_processes_analyse_a_clip_once(tiny_weights: Path, tmp_path: Path) -> None:
    clip = write_example_clip(tmp_path / "clip.mp4", n_frames=6)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, str(script), str(clip), str(tiny_weights), str(tmp_path / "out")]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["cached"] for r in results) == [False, True]  # computed once, reused once
    assert results[0]["dir"] == results[1]["dir"]
    runs = tmp_path / "out" / "runs"
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] == [Path(results[0]["dir"]).name]
    assert list((runs / ".building").iterdir()) == []  # no private build folder left behind
