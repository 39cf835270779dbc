"""SMPL body model (smplx LBS) with the joint sets HMR2.0 and PHALP use, and chumpy-free loading.

Joint sets (hmr2_spec.md §5, phalp_spec.md §4.1):
- smplx gives 24 skeleton joints + 21 vertex joints = 45 "smplx joints";
- HMR2 picks 25 of them in OpenPose order (`OPENPOSE_JOINT_MAP`) and appends 19 joints regressed
  from the vertices by SMPL_to_J19 -> 44 joints;
- PHALP appends one joint at the body origin (all zeros) -> 45 joints; its 2D projection is the
  person's "location" used by the tracker.

The released SMPL_NEUTRAL.pkl is a Python 2 pickle holding chumpy arrays and a scipy sparse
J_regressor. Neither package is a dependency: `load_smpl_pickle` reads the file through the SMPL allow-list
of `lart_demo.safe_load` (numpy arrays; chumpy/scipy objects as inert records rebuilt here as plain
numpy arrays), so loading a file can never run code from it.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from smplx import SMPLLayer
from smplx.lbs import vertices2joints
from smplx.utils import Struct
from torch import nn

from lart_demo.errors import WeightsError
from lart_demo.safe_load import JOINT_REGRESSOR, ChumpyArray, SparseMatrix, dense_from_sparse, load_pickle
from lart_demo.safe_load import SMPL as SMPL_KIND

# smplx joint index of each OpenPose BODY_25 joint (hmr2_spec.md §5.3)
OPENPOSE_JOINT_MAP = (24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34)
NUM_BETAS = 10
NUM_BODY_JOINTS = 23
# the real SMPL kinematic tree (parent of joints 1..23); used only to write random SMPL-format files
SMPL_PARENTS = (0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# Arrays an SMPL body model must provide (the rest of the pickle is metadata we do not need).
_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _to_numpy(value: Any, key: str) -> np.ndarray | None:
    """Plain numpy array for array-like values; None for metadata (strings, dicts)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, SparseMatrix):
        return dense_from_sparse(value)
    if isinstance(value, ChumpyArray):
        state = value.state_dict()
        if "x" not in state:
            raise WeightsError(
                f"SMPL entry '{key}' is a chumpy expression ({value.source_class}) rather than a stored array; "
                "this file is not a standard SMPL model. Use the SMPL_NEUTRAL.pkl from the SMPL website."
            )
        return _to_numpy(state["x"], key)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        return np.asarray(value)
    return None


def load_smpl_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an SMPL-format model file as plain numpy (.pkl with or without chumpy, or a clean .npz)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"SMPL model not found at {path}. Register at https://smpl.is.tue.mpg.de, download the neutral "
            "model (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl) and give its path with --smpl-path "
            "(or LART_DEMO_SMPL_PATH)."
        )
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    else:
        raw = load_pickle(path, SMPL_KIND)
        if not isinstance(raw, dict):
            raise WeightsError(f"{path.name} is not an SMPL model file (it holds a {type(raw).__name__}).")
        arrays = {}
        for key, value in raw.items():
            array = _to_numpy(value, str(key))
            if array is not None:
                arrays[str(key)] = array
    missing = [k for k in _REQUIRED_KEYS if k not in arrays]
    if missing:
        raise WeightsError(f"{path.name} lacks the SMPL arrays {', '.join(missing)}; it is not an SMPL model file.")
    return arrays


def load_joint_regressor(path: str | Path) -> np.ndarray:
    """SMPL_to_J19.pkl: a (19, 6890) array (plain numpy pickle) regressing HMR2's extra joints."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Joint regressor not found: {path}. Run `python -m lart_demo weights download`.")
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        array = _to_numpy(load_pickle(path, JOINT_REGRESSOR), path.name)
    if array is None or array.ndim != 2:
        raise WeightsError(f"{path.name} is not a (joints, vertices) regressor matrix.")
    return np.asarray(array, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# the model


@dataclass
class SMPLOutput:
    vertices: torch.Tensor  # (B, 6890, 3)
    smplx_joints: torch.Tensor  # (B, 45, 3): 24 skeleton + 21 vertex joints
    joints: torch.Tensor  # (B, 44, 3): HMR2's 25 OpenPose-order + 19 regressed joints


def with_origin_joint(joints: torch.Tensor) -> torch.Tensor:
    origin = joints.new_zeros(joints.shape[0], 1, 3)
    return torch.cat([joints, origin], dim=1)


class SMPL(nn.Module):
    """Neutral SMPL (10 betas, rotation-matrix pose, no translation) with HMR2's 44-joint output."""

    def __init__(self, model_data: dict[str, np.ndarray], joint_regressor_extra: np.ndarray) -> None:
        super().__init__()
        num_verts = model_data["v_template"].shape[0]
        if joint_regressor_extra.shape[1] != num_verts:
            raise WeightsError(
                f"The extra-joint regressor has {joint_regressor_extra.shape[1]} columns but the SMPL model has "
                f"{num_verts} vertices: SMPL_to_J19.pkl and SMPL_NEUTRAL.pkl do not belong together."
            )
        # smplx prints a notice for every 10-beta model; it says nothing the user can act on
        with contextlib.redirect_stdout(io.StringIO()):
            self.body = SMPLLayer(model_path="", data_struct=Struct(**model_data), num_betas=NUM_BETAS)
        self.register_buffer("joint_map", torch.tensor(OPENPOSE_JOINT_MAP, dtype=torch.long))
        self.register_buffer("joint_regressor_extra", torch.tensor(joint_regressor_extra, dtype=torch.float32))

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangle vertex indices."""
        return self.body.faces_tensor.cpu().numpy()

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor) -> SMPLOutput:
        """global_orient (B,1,3,3), body_pose (B,23,3,3) rotation matrices; betas (B,10)."""
        out = self.body(global_orient=global_orient, body_pose=body_pose, betas=betas, pose2rot=False)
        vertices, smplx_joints = out.vertices, out.joints
        extra = vertices2joints(self.joint_regressor_extra, vertices)
        joints = torch.cat([smplx_joints[:, self.joint_map], extra], dim=1)
        return SMPLOutput(vertices=vertices, smplx_joints=smplx_joints, joints=joints)


def load_smpl(model_file: Path, j19_file: Path, device: str | torch.device = "cpu") -> SMPL:
    """The SMPL layer from a (licensed) SMPL_NEUTRAL.pkl or its clean .npz copy plus SMPL_to_J19.pkl."""
    model = SMPL(load_smpl_pickle(model_file), load_joint_regressor(j19_file))
    return model.to(device).eval()


def smpl_faces(model_file: Path) -> np.ndarray:
    """(F, 3) int64 faces of an SMPL-format model file (for rendering) without building the layer."""
    return np.asarray(load_smpl_pickle(model_file)["f"], dtype=np.int64)


def write_random_smpl(path: Path, seed: int = 0, num_verts: int = 6890, num_faces: int = 13776) -> Path:
    """A random SMPL-format model (real shapes and kinematic tree, meaningless values) for offline runs.

    Written as the clean .npz layout `load_smpl_pickle` reads; it is NOT the licensed SMPL body.
    """
    rng = np.random.default_rng(seed)
    num_joints = NUM_BODY_JOINTS + 1
    v_template = rng.normal(0.0, 0.3, size=(num_verts, 3))
    weights = rng.random((num_verts, num_joints)) ** 8  # mostly one dominant joint per vertex
    weights /= weights.sum(axis=1, keepdims=True)
    j_regressor = rng.random((num_joints, num_verts)) ** 16
    j_regressor /= j_regressor.sum(axis=1, keepdims=True)
    kintree = np.stack([np.array((2**32 - 1, *SMPL_PARENTS)), np.arange(num_joints)]).astype(np.int64)
    arrays = {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 0.01, size=(num_verts, 3, NUM_BETAS)),
        "posedirs": rng.normal(0.0, 0.001, size=(num_verts, 3, 9 * NUM_BODY_JOINTS)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, num_verts, size=(num_faces, 3)).astype(np.uint32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    return path
