"""The page's 3D view and highlight handlers, without a browser: only the asking session's runs are opened."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from export_scenes import synthetic_motion, synthetic_result, synthetic_smpl

from lart_demo.app.exports_panel import ExportsPanel
from lart_demo.app.handlers import Handlers
from lart_demo.config import Settings
from lart_demo.contracts import SmplPerson
from lart_demo.exports import write_exports
from lart_demo.pipeline.request import load_run_output
from lart_demo.pipeline.results import write_result_json
from lart_demo.video.io import VideoWriter

SESSION = SimpleNamespace(session_hash="session-1")  # what Gradio passes as gr.Request
OTHER_SESSION = SimpleNamespace(session_hash="session-2")


@pytest.fixture()
def panel_and_run(tmp_path: Path, smpl_dir: Path) -> tuple[ExportsPanel, str]:
    out = tmp_path / "outputs"
    run = out / "runs" / "abc"
    run.mkdir(parents=True)
    smpl = synthetic_smpl(smpl_dir)
    frames = np.arange(0, 30)
    probs = np.full((30, 4), 0.1, np.float32)
    probs[5:15, 0] = 0.8
    result = synthetic_result({4: (frames, probs)})
    m = synthetic_motion(4, frames)
    people = {
        int(f): [SmplPerson(4, m.global_orient[i][None], m.body_pose[i], m.betas[i], m.cam_t[i])]
        for i, f in enumerate(frames)
    }
    result.files.update(write_exports(result, people, run, Settings(), smpl))
    write_result_json(result, run / "results.json")
    with VideoWriter(run / "render.mp4", result.clip.fps, (result.clip.width, result.clip.height)) as writer:
        for i in range(result.clip.n_frames):
            writer.write(np.full((result.clip.height, result.clip.width, 3), 4 * i, np.uint8))
    settings = Settings(output_dir=out)
    handlers = Handlers(settings, runner=lambda *args: None)
    handlers.loaded.put(run.name, load_run_output(run))
    token = handlers.tokens.token("session-1", run.name)
    panel = ExportsPanel(settings, handlers.run_folder)
    panel._smpl = smpl  # the synthetic body instead of a weights folder
    return panel, token


def test_after_run_shows_frame_zero_and_lists_events(panel_and_run) -> None:
    panel, token = panel_and_run
    slider, model, download, events, caption, highlight = panel.after_run(token, SESSION)
    assert slider["maximum"] == 59 and slider["value"] == 0
    assert model.endswith("frame_000000.glb") and Path(model).is_file()
    assert caption == "3D view of frame 0: #4."
    assert events["choices"][0][0].startswith("#4 run: 0.20–0.60 s")
    assert highlight is None


def test_frame_view_and_highlight(panel_and_run) -> None:
    panel, token = panel_and_run
    model, download, caption = panel.frame_view(token, 45, SESSION)
    assert model.endswith("frame_000045.glb") and caption == "3D view of frame 45: nobody."
    clip, note = panel.highlight(token, 0, SESSION)
    assert Path(clip).is_file() and note.startswith("Highlight: #4 run")
    assert panel.highlight(token, 7, SESSION)[0] is None
    assert panel.highlight(token, -1, SESSION)[0] is None


def test_only_the_sessions_own_run_is_opened(panel_and_run) -> None:
    panel, token = panel_and_run
    run_id = token.rpartition(".")[0]
    for bad_token, session in ((token, OTHER_SESSION), (f"{run_id}.forged", SESSION), ("", SESSION), (None, SESSION)):
        model, _, caption = panel.frame_view(bad_token, 3, session)
        assert model is None and caption == "Run an analysis first."
        assert panel.highlight(bad_token, 0, session)[0] is None
