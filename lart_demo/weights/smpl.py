"""SMPL, the licensed body model: never redistributed; the user's pickle is converted once to a clean .npz.

The original pickle may hold chumpy objects; it is read without chumpy and cached as numpy-only
`smpl/SMPL_NEUTRAL.npz`, which is all the pipeline ever reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lart_demo.atomic import atomic_output
from lart_demo.config import Settings
from lart_demo.errors import WeightsError
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import Manifest, load_manifest
from lart_demo.weights.status import SMPL_LICENSE_URL, how_to_get


def convert_smpl(source: Path, clean: Path) -> Path:
    """Read an SMPL model pickle (chumpy or not) without chumpy and write the clean numpy-only .npz."""
    # models.smpl loads torch: only converting a user's SMPL file needs it, not `weights status`
    from lart_demo.models.smpl import load_smpl_pickle

    arrays = load_smpl_pickle(source)
    verts = arrays["v_template"].shape[0]
    expected = {
        "shapedirs": (verts, 3),
        "posedirs": (verts, 3),
        "weights": (verts,),
        "J_regressor": (None, verts),
    }
    for key, prefix in expected.items():
        shape = arrays[key].shape
        if any(want is not None and want != got for want, got in zip(prefix, shape, strict=False)):
            raise WeightsError(f"{source.name}: '{key}' has shape {shape}, which does not fit {verts} vertices.")
    with atomic_output(clean, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items() if np.asarray(v).dtype != object})
    return clean


def smpl_source(settings: Settings) -> Path | None:
    """The SMPL pickle to convert: `Settings.smpl_path` if given, else SMPL_NEUTRAL.pkl in the weights folder."""
    if settings.smpl_path is not None:
        return Path(settings.smpl_path)
    neutral = WeightFiles(Path(settings.weights_dir)).smpl_neutral
    return neutral if neutral.is_file() else None


def prepare_smpl(settings: Settings) -> list[str]:
    """Make sure the clean SMPL .npz exists, converting the user's pickle if needed. Returns why it cannot
    (empty list: ready). Never downloads: SMPL is licensed."""
    files = WeightFiles(Path(settings.weights_dir))
    if files.smpl_neutral_clean.is_file():
        return []
    src = smpl_source(settings)
    if src is None:
        return ["not in the weights folder"]
    if not src.is_file():
        return [f"--smpl-path / LART_DEMO_SMPL_PATH points to {src}, which does not exist"]
    try:
        convert_smpl(src, files.smpl_neutral_clean)
    except WeightsError as exc:
        return [f"{src}: {exc}"]
    return []


def ensure_smpl(settings: Settings, manifest: Manifest | None = None) -> Path:
    """The clean SMPL file, converted on first use from `Settings.smpl_path` or a SMPL_NEUTRAL.pkl the
    user placed in the weights folder."""
    manifest = manifest or load_manifest()
    entry = next(e for e in manifest.files if e.licensed == "smpl")
    files = WeightFiles(Path(settings.weights_dir))
    if smpl_source(settings) is None and not files.smpl_neutral_clean.is_file():
        raise WeightsError(
            f"The SMPL body model is not in {files.smpl_dir}. To provide it: {how_to_get(entry, settings)}."
        )
    reasons = prepare_smpl(settings)
    if reasons:
        raise WeightsError(f"The SMPL body model could not be prepared: {reasons[0]}.")
    return files.smpl_neutral_clean


def add_smpl(source: Path, weights_dir: Path) -> Path:
    """`weights add-smpl FILE`: the user's own licensed SMPL pickle, checked and converted into the weights folder."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise WeightsError(f"{source} does not exist. Download the neutral model from {SMPL_LICENSE_URL} first.")
    return convert_smpl(source, WeightFiles(Path(weights_dir)).smpl_neutral_clean)
