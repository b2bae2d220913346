"""Helpers of the notebook tests: where the notebooks are, and a clean kernel environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def kernel_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of a notebook kernel (or a Voila server) started by a test.

    No ``TOWER_*``/``SEQERA_*`` variable: a developer's real token or workspace must never
    reach a notebook run by the tests, which always use the emulator. IPython and Jupyter
    get private directories, so a developer's startup files and settings cannot interfere,
    and nothing is written into their home directory.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOWER_", "SEQERA_"))}
    home = tmp_path / "jupyter-home"
    for name in ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        d = home / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[name] = str(d)
    # The kernel runs this interpreter (the project's virtualenv), whatever is on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("MPLBACKEND", None)  # notebooks show charts inline
    return env


@pytest.fixture
def notebooks_dir() -> Path:
    """The project's ``notebooks/`` folder."""
    return NOTEBOOKS


@pytest.fixture
def kernel_env(tmp_path: Path) -> dict[str, str]:
    """:func:`kernel_environment` for this test's temporary folder."""
    return kernel_environment(tmp_path)
