"""Shared fixtures: where the reference material lives, synthetic SMPL, example clips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LART_DEMO_SHARED", REPO_ROOT.parent / "shared"))
GOLDEN_ROOT = Path(os.environ.get("LART_DEMO_GOLDEN_ROOT", SHARED / "reference" / "golden"))
SMPL_SYNTHETIC = SHARED / "reference" / "smpl_synthetic"
EXAMPLES = SHARED / "examples"
REFERENCE = SHARED / "reference"


def pytest_configure(config: pytest.Config) -> None:
    # One intra-op thread: on the 2-core CI machine torch's default of 2 threads makes small models
    # many times slower under load; the goldens were checked to agree across thread counts.
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture(scope="session")
def golden_root() -> Path:
    return GOLDEN_ROOT


@pytest.fixture(scope="session")
def smpl_dir() -> Path:
    """The synthetic SMPL-format body (NOT the licensed SMPL): SMPL_NEUTRAL.pkl, SMPL_to_J19.pkl, mean params."""
    return SMPL_SYNTHETIC


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete weights folder with tiny random models in the released formats (`weights make-random`)."""
    from lart_demo.weights.random import make_random_weights

    root = tmp_path_factory.mktemp("tiny_weights")
    make_random_weights(root, profile="tiny", seed=0)
    return root


@pytest.fixture(scope="session", autouse=True)
def private_gradio_temp(tmp_path_factory: pytest.TempPathFactory):
    """Gradio's upload folder for this test session only. Uploads are stored by content hash, and a server
    built with `delete_cache` deletes its files when it stops: with a shared /tmp/gradio, another test run
    stopping its server would delete the same clip from under this one."""
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    yield
    if old is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = old
