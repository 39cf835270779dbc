"""One `Settings` object, built from environment variables and CLI flags, passed down explicitly.

No other module reads environment variables: they all receive a `Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lart_demo.errors import InputError

# Settings fields carrying this metadata change what a run writes: the run cache keys on them
# (pipeline/cache.py). Weights and the boxes file enter the key by content, not by their path.
AFFECTS_OUTPUT = {"affects_output": True}

DEFAULT_HF_REPO = ""  # no Hub source unless the user names their own mirror (LART_DEMO_HF_REPO)
DEFAULT_HF_REVISION = "main"


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline, CLI and app may be configured with."""

    weights_dir: Path = Path("weights")
    device: str = field(default="auto", metadata=AFFECTS_OUTPUT)  # "auto" | "cpu" | "cuda" | "cuda:N"
    # "auto" | "fp32" | "bf16": lart_demo/precision.py decides what each means per stage and device
    precision: str = field(default="auto", metadata=AFFECTS_OUTPUT)
    hf_repo: str = DEFAULT_HF_REPO
    hf_revision: str = DEFAULT_HF_REVISION
    smpl_path: Path | None = None
    # input caps: applied explicitly and reported in the clip metadata, never silently
    max_duration_s: float = field(default=60.0, metadata=AFFECTS_OUTPUT)
    max_side: int = field(default=1280, metadata=AFFECTS_OUTPUT)
    max_upload_mb: float = 500.0
    processing_fps: float | None = field(default=None, metadata=AFFECTS_OUTPUT)  # None keeps the source fps
    # tracking / actions
    max_people: int = field(default=10, metadata=AFFECTS_OUTPUT)
    min_box_w: int = field(default=100, metadata=AFFECTS_OUTPUT)
    min_box_h: int = field(default=200, metadata=AFFECTS_OUTPUT)
    detector_threshold: float = field(default=0.8, metadata=AFFECTS_OUTPUT)
    boxes_file: Path | None = None  # JSON of known person boxes per frame: replaces the detector (stages/boxes.py)
    # rendering
    # exports: events.csv/json keep the segments where an action's probability is at least this
    event_threshold: float = field(default=0.5, metadata=AFFECTS_OUTPUT)
    labels_per_person: int = field(default=3, metadata=AFFECTS_OUTPUT)
    min_label_prob: float = field(default=0.0, metadata=AFFECTS_OUTPUT)
    render_style: str = field(default="mesh+labels", metadata=AFFECTS_OUTPUT)  # "mesh" | "mesh+labels" | "side-by-side"
    mesh_opacity: float = field(default=0.85, metadata=AFFECTS_OUTPUT)
    face_blur: bool = field(default=False, metadata=AFFECTS_OUTPUT)
    # "auto" | "egl" | "osmesa" | "cpu" (numpy fallback): the fallback draws differently
    render_backend: str = field(default="auto", metadata=AFFECTS_OUTPUT)
    # where runs are written (the app's cache lives below it)
    output_dir: Path = Path("outputs")
    cache_gb: float = 20.0  # cap on <output_dir>/runs; least recently used runs are evicted (fits a Space's disk)
    extra: dict[str, str] = field(default_factory=dict)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced; `None` values are ignored (unset CLI flags)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise InputError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV_MAP: dict[str, tuple[str, type]] = {
    "LART_DEMO_WEIGHTS": ("weights_dir", Path),
    "LART_DEMO_DEVICE": ("device", str),
    "LART_DEMO_PRECISION": ("precision", str),
    "LART_DEMO_HF_REPO": ("hf_repo", str),
    "LART_DEMO_HF_REVISION": ("hf_revision", str),
    "LART_DEMO_SMPL_PATH": ("smpl_path", Path),
    "LART_DEMO_MAX_DURATION": ("max_duration_s", float),
    "LART_DEMO_MAX_SIDE": ("max_side", int),
    "LART_DEMO_MAX_UPLOAD_MB": ("max_upload_mb", float),
    "LART_DEMO_OUTPUT_DIR": ("output_dir", Path),
    "LART_DEMO_CACHE_GB": ("cache_gb", float),
    "LART_DEMO_RENDER_BACKEND": ("render_backend", str),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse(name: str, raw: str, kind: type) -> object:
    if kind is bool:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InputError(f"{name}={raw!r} is not a yes/no value (use 1 or 0).")
    try:
        return kind(raw)
    except ValueError as exc:
        raise InputError(f"{name}={raw!r} is not a valid {kind.__name__}.") from exc


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from `env` (default: the process environment), then explicit overrides (CLI flags)."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for var, (name, kind) in _ENV_MAP.items():
        if var in env:
            values[name] = _parse(var, env[var], kind)
    return Settings().with_overrides(**values).with_overrides(**overrides)
