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
    "and a timeline per person you can scrub."
)
EXAMPLES_LABEL = "Example: a clip this app generates itself (simple figures, no third-party footage)"
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


def weights_panel(settings: Settings) -> str:
    """Markdown for the weights-missing panel, or "" when every file the analysis needs is there."""
    try:
        missing = missing_for(settings, STAGES)
    except LartDemoError as exc:
        return f"### ⚠️ The model files cannot be checked\n{exc}"
    if not missing:
        return ""
    rows = "\n".join(f"- `{m.path.name}` ({m.detail}): {m.how_to_get}" for m in missing)
    return (
        f"### ⚠️ {len(missing)} model file(s) are missing\n"
        f"They belong in `{settings.weights_dir}`:\n\n{rows}\n\n{missing_weights_advice(settings.weights_dir)}"
    )


def random_banner(settings: Settings) -> str:
    info = random_weights_info(Path(settings.weights_dir))
    if info is None:
        return ""
    return (
        f"⚠️ **{str(info['banner']).capitalize()}.** This app is running with random test weights "
        f"(profile '{info.get('profile', '?')}'), not the released models."
    )
