"""Copy the notebooks with CI's tiny parameters (notebooks/ci_parameters.json) injected, unrun.

    python scripts/prepare_notebooks.py build/ci-notebooks   # then `pytest --nbval-lax` runs them
"""

import json
import sys
from pathlib import Path

import papermill

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def main(out: str) -> None:
    """Write one prepared copy per notebook into ``out``."""
    overrides = json.loads((NOTEBOOKS / "ci_parameters.json").read_text())
    Path(out).mkdir(parents=True, exist_ok=True)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        papermill.execute_notebook(
            str(path),
            str(Path(out) / path.name),
            parameters=overrides.get(path.name, {}),
            prepare_only=True,
            progress_bar=False,
            cwd=str(NOTEBOOKS),
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/ci-notebooks")
