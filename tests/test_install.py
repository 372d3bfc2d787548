"""An install without the ``torch`` extra (``pip install .``): ``geoseg process`` with the
built-in spectral model runs and never imports torch, in the client or in the embedded cluster's
worker processes; a trained model fails in one line naming the extra.

Torch is installed in the test venv, so its absence is simulated: a ``sitecustomize`` on
``PYTHONPATH`` maps torch and the rest of the extra to None in ``sys.modules`` (any import of them
raises ImportError, as in a venv without them) in every Python process the run starts, since
workers inherit the environment; each such process records its pid, so the test knows the
workers were covered too.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "pucallpa_2000.tif"
BLOCKER = """\
import os, sys
for name in ("torch", "torchvision", "segmentation_models_pytorch", "safetensors", "timm"):
    sys.modules[name] = None  # `import torch` raises ImportError, as where it is not installed
with open(os.path.join(os.environ["GEOSEG_NO_TORCH_PIDS"], str(os.getpid())), "w"):
    pass
"""


def run_without_torch(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """``geoseg ARGS`` where torch cannot be imported; and how many processes ran so."""
    site, pids = tmp_path / "site", tmp_path / "pids"
    site.mkdir()
    pids.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    path = [str(site), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "GEOSEG_NO_TORCH_PIDS": str(pids)}
    result = subprocess.run(
        [sys.executable, "-m", "geoseg", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return result, len(list(pids.iterdir()))


def test_the_spectral_model_runs_without_torch(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result, processes = run_without_torch(tmp_path, "process", str(SAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "pucallpa_2000" / "classes.tif").is_file()
    assert (out / "pucallpa_2000" / "manifest.json").is_file()
    # The CLI and at least one worker process of its embedded cluster ran with torch blocked.
    assert processes >= 2, result.stdout + result.stderr


@pytest.mark.parametrize(
    "model",
    [
        "builtin:unet-mobilenetv2-aberystwyth",
        str(
            ROOT
            / "geoseg"
            / "models"
            / "weights"
            / "unet-mobilenetv2-aberystwyth"
            / "model.safetensors"
        ),
    ],
    ids=["builtin", "path"],
)
def test_a_trained_model_without_torch_names_the_extra(tmp_path: Path, model: str) -> None:
    result, _ = run_without_torch(
        tmp_path, "process", str(SAMPLE), "-o", str(tmp_path / "out"), "--model", model
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines() or result.stdout.strip().splitlines()
    assert lines == [f"error: {model}: needs torch; pip install 'geoseg[torch]'"], result
    assert "Traceback" not in result.stdout + result.stderr
