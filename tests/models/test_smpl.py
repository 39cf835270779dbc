"""SMPL layer: joint sets, chumpy-free loading (real-layout pickles with chumpy/scipy objects), safety."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from smplx import SMPLLayer

from lart_demo.errors import WeightsError
from lart_demo.models.smpl import (
    OPENPOSE_JOINT_MAP,
    SMPL,
    load_joint_regressor,
    load_smpl,
    load_smpl_pickle,
    smpl_faces,
    with_origin_joint,
    write_random_smpl,
)


def _random_pose(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    # rotation matrices from random axis-angles (Rodrigues) so LBS sees real rotations
    aa = 0.4 * torch.randn(batch, 24, 3, generator=gen)
    angle = aa.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    k = aa / angle
    kx = torch.zeros(batch, 24, 3, 3)
    kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    kx = kx - kx.transpose(-1, -2)
    eye = torch.eye(3).expand(batch, 24, 3, 3)
    rot = eye + torch.sin(angle)[..., None] * kx + (1 - torch.cos(angle))[..., None] * kx @ kx
    betas = torch.randn(batch, 10, generator=gen)
    return rot[:, :1], rot[:, 1:], betas


@pytest.fixture(scope="module")
def smpl(smpl_dir: Path) -> SMPL:
    return load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", smpl_dir / "SMPL_to_J19.pkl")


def test_joint_sets_follow_the_spec(smpl: SMPL, smpl_dir: Path) -> None:
    go, bp, betas = _random_pose(3)
    out = smpl(go, bp, betas)
    assert out.vertices.shape == (3, 6890, 3)
    assert out.smplx_joints.shape == (3, 45, 3)
    assert out.joints.shape == (3, 44, 3)
    # independent reference: smplx reading the file itself
    reference = SMPLLayer(model_path=str(smpl_dir), gender="neutral", num_betas=10)
    ref = reference(global_orient=go, body_pose=bp, betas=betas, pose2rot=False)
    torch.testing.assert_close(out.vertices, ref.vertices)
    torch.testing.assert_close(out.joints[:, :25], ref.joints[:, list(OPENPOSE_JOINT_MAP)])
    j19 = load_joint_regressor(smpl_dir / "SMPL_to_J19.pkl")
    expected_extra = np.einsum("jv,bvk->bjk", j19, ref.vertices.double().numpy())
    np.testing.assert_allclose(out.joints[:, 25:].numpy(), expected_extra, rtol=1e-5, atol=1e-5)
    phalp = with_origin_joint(out.joints)
    assert phalp.shape == (3, 45, 3)
    assert torch.equal(phalp[:, 44], torch.zeros(3, 3))
    assert torch.equal(phalp[:, :44], out.joints)


def test_faces(smpl: SMPL, smpl_dir: Path) -> None:
    faces = smpl_faces(smpl_dir / "SMPL_NEUTRAL.pkl")
    assert faces.dtype == np.int64 and faces.shape == (13776, 3)
    assert np.array_equal(smpl.faces, faces)


def _fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **members: object) -> None:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        mod_name = ".".join(parts[:i])
        if mod_name not in sys.modules or i == len(parts):
            monkeypatch.setitem(sys.modules, mod_name, types.ModuleType(mod_name))
    for key, value in members.items():
        setattr(sys.modules[name], key, value)


def _chumpy_like_pickle(monkeypatch: pytest.MonkeyPatch, data: dict, protocol: int) -> bytes:
    """Pickle `data` the way the released SMPL file is laid out: shapedirs and v_template as chumpy
    objects (value under 'x'), J_regressor as a scipy csc matrix."""

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    _fake_module(monkeypatch, "chumpy.ch", Ch=Ch)
    layout = dict(data)
    layout["shapedirs"] = Ch(data["shapedirs"])
    layout["v_template"] = Ch(Ch(data["v_template"]).x)
    layout["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
    layout["bs_style"] = "lbs"
    return pickle.dumps(layout, protocol=protocol)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", [1, 2])
def test_chumpy_and_sparse_pickle_loads_as_numpy(
    tmp_path: Path, smpl_dir: Path, monkeypatch: pytest.MonkeyPatch, protocol: int
) -> None:
    clean = load_smpl_pickle(smpl_dir / "SMPL_NEUTRAL.pkl")
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(_chumpy_like_pickle(monkeypatch, clean, protocol))
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # loading must not need the package
    monkeypatch.delitem(sys.modules, "chumpy")
    loaded = load_smpl_pickle(path)
    for key in ("shapedirs", "v_template", "J_regressor", "posedirs", "weights", "f", "kintree_table"):
        assert type(loaded[key]) is np.ndarray, key
        np.testing.assert_array_equal(loaded[key], clean[key], err_msg=key)
    assert "bs_style" not in loaded  # metadata strings are dropped
    model = load_smpl(path, smpl_dir / "SMPL_to_J19.pkl")
    reference = load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", smpl_dir / "SMPL_to_J19.pkl")
    go, bp, betas = _random_pose(2, seed=1)
    torch.testing.assert_close(model(go, bp, betas).joints, reference(go, bp, betas).joints)


def test_csr_sparse_also_densifies(tmp_path: Path) -> None:
    data = {"J_regressor": scipy.sparse.csr_matrix(np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]))}
    for key in ("v_template", "shapedirs", "posedirs", "weights", "kintree_table", "f"):
        data[key] = np.zeros(2)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    np.testing.assert_array_equal(load_smpl_pickle(path)["J_regressor"], [[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])


class _Exploit:
    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Exploit()}, protocol=2))
    with pytest.raises(WeightsError, match=r"Refused to load SMPL_NEUTRAL\.pkl: it refers to posix\.system"):
        load_smpl_pickle(path)


def test_missing_and_wrong_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="smpl.is.tue.mpg.de"):
        load_smpl_pickle(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}))
    with pytest.raises(WeightsError, match="lacks the SMPL arrays"):
        load_smpl_pickle(bad)


def test_clean_npz_copy_and_mismatched_regressor(tmp_path: Path, smpl_dir: Path) -> None:
    arrays = load_smpl_pickle(smpl_dir / "SMPL_NEUTRAL.pkl")
    npz = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(npz, **arrays)
    a = load_smpl(npz, smpl_dir / "SMPL_to_J19.pkl")
    b = load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", smpl_dir / "SMPL_to_J19.pkl")
    go, bp, betas = _random_pose(1, seed=2)
    torch.testing.assert_close(a(go, bp, betas).vertices, b(go, bp, betas).vertices)
    with pytest.raises(WeightsError, match="do not belong together"):
        SMPL(arrays, np.ones((19, 100)))


def test_random_smpl_is_usable(tmp_path: Path, smpl_dir: Path) -> None:
    path = write_random_smpl(tmp_path / "SMPL_NEUTRAL.npz", seed=3)
    model = load_smpl(path, smpl_dir / "SMPL_to_J19.pkl")
    go, bp, betas = _random_pose(2)
    out = model(go, bp, betas)
    assert out.joints.shape == (2, 44, 3) and torch.isfinite(out.vertices).all()
    assert model.body.parents.tolist()[:4] == [-1, 0, 0, 0]
