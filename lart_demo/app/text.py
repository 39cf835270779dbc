"""The page's words: headline, limits, the weights-missing panel, the random-weights banner, run outcomes."""

from __future__ import annotations

from pathlib import Path

from lart_demo.config import Settings
from lart_demo.errors import LartDemoError
from lart_demo.pipeline.analysis import STAGES
from lart_demo.weights.random import random_weights_info
from lart_demo.weights.status import missing_for, missing_weights_advice

TITLE = "LART demo: what is everyone doing?"
INTRO = (
    "# What is everyone doing?\n"
    "Upload a clip or paste a YouTube link. Every person is tracked in 3D (PHALP + HMR2.0) and their actions "
    "are recognised by LART (60 AVA actions). You get a video with each person's body mesh and top actions, "
    "and timelines you can scrub."
)
LINKS = (
    "**LART** (CVPR 2023): [paper](https://arxiv.org/abs/2304.01199) · [code](https://github.com/brjathu/LART) · "
    "[project page](https://brjathu.github.io/LART/) — built on [PHALP](https://github.com/brjathu/PHALP) and "
    "[4D-Humans / HMR2.0](https://github.com/shubham-goel/4D-Humans)."
)
CITATION = """```bibtex
@inproceedings{rajasegaran2023benefits,
  title     = {On the Benefits of 3D Pose and Tracking for Human Action Recognition},
  author    = {Rajasegaran, Jathushan and Pavlakos, Georgios and Kanazawa, Angjoo and
               Feichtenhofer, Christoph and Malik, Jitendra},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2023}
}
```"""
GENERATED_EXAMPLE_LABEL = "Generated example (simple figures, works offline)"
PREVIEW_HINT = "Play or scrub the preview, then set the start or end of the part to analyse."
CANCELLED_TEXT = "**Cancelled.** The analysis was stopped; start a new one whenever you like."
CANCELLING_TEXT = "**Cancelling…** the current step stops at its next check."


def limits_text(settings: Settings, queue_size: int) -> str:
    return (
        f"**Limits:** uploads up to {settings.max_upload_mb:g} MB; "
        f"the first {settings.max_duration_s:g} s are analysed "
        f"(set start/end to pick another part); frames larger than {settings.max_side} px are downscaled. "
        "Anything cut is reported with the results. One analysis runs at a time; "
        f"up to {queue_size} more wait in line and the page shows your place."
    )


def weights_panel(settings: Settings) -> tuple[str, str]:
    """(one line saying what to do, the folded details) when model files are missing, else ("", "")."""
    try:
        missing = missing_for(settings, STAGES)
    except LartDemoError as exc:
        return f"⚠️ **The model files cannot be checked:** {exc}", ""
    if not missing:
        return "", ""
    line = (
        f"⚠️ **{len(missing)} model file(s) are missing.** Run `python -m lart_demo weights download`, "
        "then restart the app."
    )
    rows = "\n".join(f"- `{m.path.name}` ({m.detail}): {m.how_to_get}" for m in missing)
    details = f"They belong in `{settings.weights_dir}`:\n\n{rows}\n\n{missing_weights_advice(settings.weights_dir)}"
    return line, details


def random_banner(settings: Settings) -> str:
    info = random_weights_info(Path(settings.weights_dir))
    if info is None:
        return ""
    return (
        f"⚠️ **{str(info['banner']).capitalize()}.** This app is running with random test weights "
        f"(profile '{info.get('profile', '?')}'), not the released models. Every output says so too."
    )
