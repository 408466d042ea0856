"""Project hygiene: the conda and pip dependency lists agree, notebooks carry no outputs."""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    """Dependencies plus the notebook and test extras, as written in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = set(project["dependencies"]) | set(extras["notebooks"]) | set(extras["test"])
    return {r for r in reqs if not r.startswith("afunet")}


def _environment_pip_requirements() -> set[str]:
    """The `pip:` list of environment.yml, read without a YAML dependency."""
    reqs, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped == "- pip:":
            in_pip = True
        elif in_pip and stripped.startswith("- "):
            reqs.add(stripped[2:].strip())
    return {r for r in reqs if r != "-e ."}


def test_environment_yml_matches_pyproject():
    assert _environment_pip_requirements() == _pyproject_requirements()


def test_make_installs_exact_versions_and_torch_is_pinned():
    # A loose torch requirement pulls a multi-GB CUDA build on a CPU machine; pyproject.toml
    # gives ranges (a hosted notebook keeps its torch), constraints.txt the exact versions.
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert "torch==2.13.0" in pins and all("==" in p for p in pins)
    installs = [line for line in (ROOT / "Makefile").read_text().splitlines()
                if "pip install" in line and "-e " in line]
    assert installs and all("-c constraints.txt" in line for line in installs)


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: strip outputs (pre-commit does it)"
            assert cell.get("execution_count") is None, f"{path.name}: strip execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_first_code_cell_is_parameters(path):
    nb = json.loads(path.read_text())
    # The first code cell after the hosted-notebook setup cell (tests/test_colab.py).
    first = next(c for c in nb["cells"] if c["cell_type"] == "code"
                 and "setup" not in c["metadata"].get("tags", []))
    assert "parameters" in first["metadata"].get("tags", []), f"{path.name}: tag the first code cell"


PACKAGE = sorted((ROOT / "afunet").rglob("*.py"))
# Measurements, machine names and dates belong in results/README.md or docs/decisions.md.
MEASUREMENT = re.compile(r"H[12]00|Xeon|EPYC|AVX|\bwe measured\b|\b20\d\d-\d\d-\d\d\b"
                         r"|\b\d+(\.\d+)? ?(ms|s|min|minutes|seconds|hours|MB|GB|GiB)\b")


def _docstrings(tree) -> list[ast.Expr]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [n.body[0] for n in ast.walk(tree) if isinstance(n, nodes) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
            and isinstance(n.body[0].value.value, str)]


def test_package_code_quotes_no_measurements():
    assert PACKAGE
    found = []
    for path in PACKAGE:
        text = path.read_text()
        prose = [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
                 if t.type == tokenize.COMMENT]
        prose += [d.value.value for d in _docstrings(ast.parse(text))]
        found += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for p in prose
                  for m in MEASUREMENT.finditer(p)]
    assert not found, "move measurements to results/README.md or docs/decisions.md: " + \
        "; ".join(found)


def test_docstrings_are_a_small_share_of_the_package():
    # Code says why in a line or two; history and detail live in docs/.
    total = doc = 0
    for path in PACKAGE:
        text = path.read_text()
        total += len(text.splitlines())
        doc += sum(d.end_lineno - d.lineno + 1 for d in _docstrings(ast.parse(text)))
    assert total > 1000 and doc / total < 1 / 6, f"docstrings are {doc / total:.1%} of the lines"
