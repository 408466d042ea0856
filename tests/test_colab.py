"""Hosted notebooks (Colab): a badge and a setup cell per notebook, and the install keeps torch.

The setup cell is run the way a hosted notebook runs it: in a fresh environment that already
has another torch release (a stand-in distribution here), it must install the project beside
that torch, leave the torch in place, and import the package.
"""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"][
    "Repository"]
HOST_TORCH = "2.5.0"  # a release the pyproject range admits, older than the constraints pin


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _setup_cell(path) -> str:
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert "setup" in code[0]["metadata"].get("tags", []), f"{path.name}: no setup cell first"
    assert "parameters" in code[1]["metadata"].get("tags", []), f"{path.name}: parameters 2nd"
    return "".join(code[0]["source"])


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_badge_and_setup_cell(path):
    title = "".join(_cells(path)[0]["source"])
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    assert (f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/"
            f"{path.name}") in title
    # One setup cell for all: identical in every notebook, naming the project's repository.
    assert _setup_cell(path) == _setup_cell(NOTEBOOKS[0])
    assert f'"{REPOSITORY}"' in _setup_cell(path)


def _host_environment(tmp_path) -> Path:
    """A fresh venv with a stand-in torch of another release and the other dependencies."""
    env = tmp_path / "host"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text(f'__version__ = "{HOST_TORCH}"\n')
    info = site / f"torch-{HOST_TORCH}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {HOST_TORCH}\n")
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("pip\n")
    # The other dependencies as this project's environment has them (no download), torch not.
    ours = Path(next(p for p in sys.path if p.endswith("site-packages")))
    shared = tmp_path / "shared"
    shared.mkdir()
    for entry in ours.iterdir():
        if not entry.name.lower().startswith(("torch", "nvidia", "triton", "afunet", "__editable",
                                              "_afunet")):
            (shared / entry.name).symlink_to(entry)
    (site / "shared.pth").write_text(f"{shared}\n")
    return python


@pytest.mark.slow
def test_setup_cell_installs_beside_the_host_torch(tmp_path):
    python = _host_environment(tmp_path)
    work = tmp_path / "content"  # Colab's working folder
    checkout = work / "afunet-repo"  # what the cell's `git clone` makes, from this tree
    checkout.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        (checkout / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["cp", "-r", str(ROOT / "afunet"), str(checkout / "afunet")], check=True)
    (checkout / "notebooks").mkdir()
    (checkout / "data" / "STARE").mkdir(parents=True)  # fetched already: no download here
    code = _setup_cell(NOTEBOOKS[0]) + "\nimport afunet.study, torch\nprint(torch.__version__)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{python.parent}:{env['PATH']}"
    done = subprocess.run([python, "-c", code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == HOST_TORCH  # the host's torch, untouched
    shown = subprocess.run([python, "-m", "pip", "show", "torch", "afunet"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert f"Version: {HOST_TORCH}" in shown and "Name: afunet" in shown
