"""Random weights in the released formats, so the whole pipeline runs without downloads (tests, CPU demos).

Body-model files come from here; each model module writes its own config and checkpoint. The
RANDOM_WEIGHTS marker makes every output say that predictions are meaningless.
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lart_demo.atomic import atomic_write_bytes
from lart_demo.errors import WeightsError
from lart_demo.notices import RANDOM_WEIGHTS_NOTICE
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import load_manifest
from lart_demo.weights.smpl import convert_smpl

RANDOM_BANNER = RANDOM_WEIGHTS_NOTICE
# model modules that write their own files for `make-random`, in pipeline order
RANDOM_WEIGHT_WRITERS = ("hmr2", "detector", "hmar", "pose_predictor", "mvit", "lart")


def _random_smpl_body(seed: int) -> dict[str, Any]:
    """A toy SMPL-format body with the released key layout, shapes and dtypes; NOT the licensed SMPL.

    The surface is one closed sphere-topology mesh (like SMPL: 6890 vertices, 13776 faces = 2V-4)
    stretched into a 1.7 m tall capsule, so renders show a blob where the person is.
    """
    # models.smpl loads torch: the other weights commands (status, download, import) must stay light
    from lart_demo.models.smpl import SMPL_PARENTS

    rng = np.random.default_rng(seed)
    segments, rings = 56, 124  # 56 * 123 ring vertices + 2 poles = 6890
    theta = np.linspace(0.0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(tt) * np.cos(pp), np.cos(tt), np.sin(tt) * np.sin(pp)], axis=-1).reshape(-1, 3)
    unit = np.concatenate([[[0.0, 1.0, 0.0]], unit, [[0.0, -1.0, 0.0]]])
    verts = unit * np.array([0.22, 0.85, 0.14]) + rng.normal(0.0, 0.002, size=unit.shape)
    # vertex index of ring r (0 = next to the top pole), segment s
    col = np.arange(segments)
    idx = 1 + np.arange(rings - 1)[:, None] * segments + col[None, :]
    nxt = np.roll(idx, -1, axis=1)
    bottom = len(unit) - 1
    caps = [
        np.stack([np.zeros(segments, np.int64), nxt[0], idx[0]], axis=1),
        np.stack([np.full(segments, bottom), idx[-1], nxt[-1]], axis=1),
    ]
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    quads = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    f = np.concatenate([caps[0], quads, caps[1]]).astype(np.uint32)
    num_joints = len(SMPL_PARENTS) + 1
    # joints spread along the capsule's height, so skinning weights and the regressor are local
    joints = np.stack(
        [rng.uniform(-0.15, 0.15, num_joints), np.linspace(-0.8, 0.8, num_joints), np.zeros(num_joints)], axis=1
    )
    dist = np.linalg.norm(verts[:, None, :] - joints[None, :, :], axis=-1)
    weights = np.exp(-((dist / 0.12) ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    near = np.exp(-((dist.T / 0.08) ** 2))
    j_regressor = near / near.sum(axis=1, keepdims=True)
    kintree = np.stack([np.array((2**32 - 1, *SMPL_PARENTS)), np.arange(num_joints)]).astype(np.int64)
    from scipy.spatial import cKDTree

    _, sym = cKDTree(verts).query(verts * np.array([-1.0, 1.0, 1.0]))  # nearest vertex after mirroring in x
    return {
        "v_template": verts,
        "shapedirs": rng.normal(0.0, 0.01, size=(len(verts), 3, 10)),
        "posedirs": rng.normal(0.0, 0.001, size=(len(verts), 3, 9 * (num_joints - 1))),
        "J_regressor": j_regressor,
        "J_regressor_prior": j_regressor.copy(),
        "J": j_regressor @ verts,
        "weights": weights,
        "weights_prior": weights.copy(),
        "kintree_table": kintree,
        "f": f,
        "vert_sym_idxs": sym.astype(np.int64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "pose_training_info": {"random": True, "seed": seed},
    }


def _write_random_body_files(files: WeightFiles, seed: int) -> list[Path]:
    """SMPL (original pickle + clean copy), its extra-joint regressor, mean params and UV layout."""
    body = _random_smpl_body(seed)
    atomic_write_bytes(files.smpl_neutral, pickle.dumps(body, protocol=2))
    convert_smpl(files.smpl_neutral, files.smpl_neutral_clean)
    rng = np.random.default_rng(seed + 1)
    verts = body["v_template"]
    j19 = np.exp(-(rng.normal(0.0, 0.05, (19, 1)) + np.abs(verts[None, :, 1] - rng.uniform(-0.8, 0.8, (19, 1)))))
    j19 = j19**32
    j19 /= j19.sum(axis=1, keepdims=True)
    atomic_write_bytes(files.smpl_to_j19, pickle.dumps(j19, protocol=2))
    identity_6d = np.tile([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 24)
    buf = _npz_bytes(
        pose=identity_6d + rng.normal(0.0, 0.02, 144),
        shape=rng.normal(0.0, 0.1, 10),
        cam=np.array([0.9, 0.0, 0.0]),
    )
    atomic_write_bytes(files.smpl_mean_params, buf)
    uv = np.stack([(np.arctan2(verts[:, 2], verts[:, 0]) / (2 * np.pi)) % 1.0, (verts[:, 1] + 0.85) / 1.7], axis=1)
    atomic_write_bytes(files.texture, _npz_bytes(smpl_faces=body["f"].astype(np.int64), vt=uv, ft=body["f"]))
    return [files.smpl_neutral, files.smpl_neutral_clean, files.smpl_to_j19, files.smpl_mean_params, files.texture]


def _npz_bytes(**arrays: np.ndarray) -> bytes:

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _random_writer(name: str) -> Callable[..., list[Path]]:
    module_name = f"lart_demo.models.{name}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WeightsError(f"Cannot make random weights: {module_name} could not be imported ({exc}).") from exc
    writer = getattr(module, f"write_random_{name}", None)
    if writer is None:
        raise WeightsError(f"Cannot make random weights: {module_name} has no write_random_{name}().")
    return writer


def make_random_weights(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Write a complete weights folder with random weights in the released formats, plus the marker.

    Body-model files come from here; each model module's `write_random_<model>(weights_dir, profile,
    seed)` writes its own config + checkpoint. Every manifest file must exist afterwards.
    """
    if profile not in ("tiny", "full"):
        raise WeightsError(f"Unknown random-weights profile {profile!r}: use 'tiny' or 'full'.")
    weights_dir = Path(weights_dir)
    files = WeightFiles(weights_dir)
    manifest = load_manifest()
    if not files.is_random():
        real = [e.path for e in manifest.files if e.target(weights_dir).exists()]
        if real or files.smpl_neutral_clean.exists():
            raise WeightsError(
                f"{weights_dir} already holds weight files ({', '.join(real[:3]) or 'SMPL'}) and no random-weights "
                "marker; refusing to overwrite them. Choose an empty folder for random weights."
            )
    writers = [_random_writer(name) for name in RANDOM_WEIGHT_WRITERS]  # all of them, before writing anything
    weights_dir.mkdir(parents=True, exist_ok=True)
    written = _write_random_body_files(files, seed)
    for writer in writers:
        written.extend(Path(p) for p in writer(weights_dir, profile=profile, seed=seed))
    marker = {"banner": RANDOM_BANNER, "profile": profile, "seed": seed}
    atomic_write_bytes(files.random_marker, (json.dumps(marker, indent=2) + "\n").encode())
    written.append(files.random_marker)
    lacking = [e.path for e in manifest.files if e.licensed is None and not e.target(weights_dir).is_file()]
    if lacking:
        raise WeightsError(
            "make-random finished but these files were written by no model module: " + ", ".join(lacking)
        )
    return written


def random_weights_info(weights_dir: Path) -> dict[str, Any] | None:
    """The marker's content when `weights_dir` holds random weights, else None."""
    marker = WeightFiles(Path(weights_dir)).random_marker
    if not marker.exists():
        return None
    try:
        info = json.loads(marker.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError:
        info = {}
    info.setdefault("banner", RANDOM_BANNER)
    return info
