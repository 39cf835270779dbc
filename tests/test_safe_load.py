"""safe_load: crafted payloads in every pickle-bearing file kind are refused and never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lart_demo.errors import WeightsError
from lart_demo.models.pose_normalisation import read_mean_std
from lart_demo.safe_load import (
    AVA_LABELS,
    HMR2_CHECKPOINT,
    JOINT_REGRESSOR,
    LIGHTNING_CHECKPOINT,
    MEAN_STD,
    SMPL,
    TORCH_WEIGHTS,
    load_npy,
    load_pickle,
    load_torch,
)


class _RunString:
    """Pickles as a call of numpy.testing's `runstring`, which calls exec (the payload issue 13 measured)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple:
        from numpy.testing._private.utils import runstring

        return (runstring, (self.code, {}))


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (self.command,))


def _write_object_npy(path: Path, payload: object) -> None:
    """A .npy header for an object array followed by any pickle: what np.save writes for object arrays."""
    with path.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (2,)})
        pickle.dump(payload, fh, protocol=3)


def _payloads(marker: Path) -> list[object]:
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return [_RunString(code), _System(f"touch {marker}")]


@pytest.mark.parametrize("which", [0, 1])
def test_mean_std_payload_never_runs(tmp_path: Path, which: int) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "mean_std.npy"
    _write_object_npy(path, (np.zeros((1, 3)), _payloads(marker)[which]))
    with pytest.raises(WeightsError, match=r"^Refused to load mean_std\.npy: it refers to (numpy\.testing|posix)"):
        read_mean_std(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", [SMPL, JOINT_REGRESSOR, AVA_LABELS])
def test_pickle_kinds_refuse_payloads(tmp_path: Path, kind: object) -> None:
    marker = tmp_path / "marker"
    for index, payload in enumerate(_payloads(marker)):
        path = tmp_path / f"file{index}.pkl"
        path.write_bytes(pickle.dumps({"v_template": payload}, protocol=2))
        with pytest.raises(WeightsError) as info:
            load_pickle(path, kind)  # type: ignore[arg-type]
        message = str(info.value)
        assert message.startswith(f"Refused to load {path.name}: ") and "\n" not in message
    assert not marker.exists()


def test_numpy_is_allowed_only_as_arrays(tmp_path: Path) -> None:
    # any other numpy name is refused, even a harmless one
    path = tmp_path / "m.npy"
    _write_object_npy(path, np.array([np.zeros(2), np.ones(2)], dtype=object).tolist() + [np.add])
    with pytest.raises(WeightsError, match=r"it refers to numpy\.add"):
        load_npy(path, MEAN_STD)


def test_object_arrays_only_where_the_kind_needs_them(tmp_path: Path) -> None:
    pair = np.empty(2, dtype=object)
    pair[0], pair[1] = np.zeros((1, 4)), np.ones((1, 4))
    np.save(tmp_path / "pair.npy", pair, allow_pickle=True)
    loaded = load_npy(tmp_path / "pair.npy", MEAN_STD)
    assert loaded.dtype == object and np.array_equal(loaded[1], np.ones((1, 4)))
    with pytest.raises(WeightsError, match=r"Refused to load pair\.npy: it is an object array"):
        load_npy(tmp_path / "pair.npy", AVA_LABELS)
    np.save(tmp_path / "plain.npy", np.arange(6.0).reshape(2, 3))
    assert load_npy(tmp_path / "plain.npy", AVA_LABELS).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_python2_style_numpy_pickles_load(tmp_path: Path) -> None:
    path = tmp_path / "SMPL_to_J19.pkl"
    path.write_bytes(pickle.dumps(np.eye(3), protocol=2))  # array bytes via _codecs.encode(..., 'latin1')
    assert np.array_equal(load_pickle(path, JOINT_REGRESSOR), np.eye(3))


def test_damaged_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({"a": [1, 2, 3]})[:-4])
    with pytest.raises(WeightsError, match=r"^Could not read cut\.pkl"):
        load_pickle(tmp_path / "cut.pkl", AVA_LABELS)
    with pytest.raises(WeightsError, match="not found"):
        load_npy(tmp_path / "nope.npy", MEAN_STD)


def test_torch_checkpoint_payload_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    for kind in (TORCH_WEIGHTS, LIGHTNING_CHECKPOINT, HMR2_CHECKPOINT):
        for index, payload in enumerate(_payloads(marker)):
            path = tmp_path / f"evil{index}.ckpt"
            torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": payload}, path)
            with pytest.raises(WeightsError) as info:
                load_torch(path, kind)
            assert str(info.value).startswith(f"Could not read {path.name}") or str(info.value).startswith(
                f"Refused to load {path.name}"
            )
            assert "\n" not in str(info.value)
    assert not marker.exists()


def test_torch_stand_ins_load_configs_inertly(tmp_path: Path) -> None:
    from collections import OrderedDict

    path = tmp_path / "ok.ckpt"
    torch.save({"state_dict": OrderedDict(w=torch.ones(2)), "epoch": 3}, path)
    for kind in (TORCH_WEIGHTS, LIGHTNING_CHECKPOINT, HMR2_CHECKPOINT):
        assert load_torch(path, kind)["state_dict"]["w"].tolist() == [1.0, 1.0]


def test_phalp_results_load_and_payloads_are_refused(tmp_path: Path) -> None:
    import joblib

    from lart_demo.errors import InputError
    from lart_demo.safe_load import PHALP_RESULTS, load_joblib

    good = {"frame_0": {"tid": [1], "bbox": [np.arange(4.0)], "size": [(64, 48)], "label": {1: ["stand"]}}}
    for compress in (0, 3):
        joblib.dump(good, tmp_path / f"good{compress}.pkl", compress=compress)
        loaded = load_joblib(tmp_path / f"good{compress}.pkl", PHALP_RESULTS)
        assert loaded["frame_0"]["label"] == {1: ["stand"]}
        assert np.array_equal(loaded["frame_0"]["bbox"][0], np.arange(4.0))
    marker = tmp_path / "marker"
    for index, payload in enumerate(_payloads(marker)):
        joblib.dump({"frame_0": {"tid": [payload]}}, tmp_path / f"evil{index}.pkl", compress=3)
        with pytest.raises(InputError, match=rf"^Refused to load evil{index}\.pkl: it refers to "):
            load_joblib(tmp_path / f"evil{index}.pkl", PHALP_RESULTS)
    # joblib reads object arrays with an unrestricted pickle: refused before that happens
    joblib.dump({"x": np.array([_System(f"touch {marker}")], dtype=object)}, tmp_path / "objects.pkl")
    with pytest.raises(InputError, match=r"it holds an object array"):
        load_joblib(tmp_path / "objects.pkl", PHALP_RESULTS)
    assert not marker.exists()
