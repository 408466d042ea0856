"""Writing a table as CSV (all digits), Markdown and LaTeX (rounded), each file atomically.

Markdown and LaTeX are written here: pandas would need tabulate and jinja2 for a dozen rows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("csv", "md", "tex")
_NUMBER = re.compile(r"^[-+−]?(\d|\.\d)")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "±": r"$\pm$", "−": r"$-$"}


def write_table(df: pd.DataFrame, stem: str | Path, *, display=None,
                caption: str | None = None, digits: int = 4,
                formats=FORMATS) -> list[Path]:
    """Write ``stem.csv`` (unrounded), ``stem.md`` and ``stem.tex``, each whole or not at all.

    Markdown and LaTeX show ``display`` (a DataFrame, or (title, DataFrame) parts one after
    another; None: ``df`` rounded to ``digits``); ``caption`` heads both. Returns the paths.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    shown = display if display is not None else df
    parts = [(None, shown)] if isinstance(shown, pd.DataFrame) else list(shown)
    paths = []
    for fmt in formats:
        if fmt == "csv":
            text = df.to_csv(index=False)
        elif fmt == "md":
            blocks = [f"{caption}"] if caption else []
            blocks += [(f"{title}\n\n" if title else "") + to_markdown(part, digits)
                       for title, part in parts]
            text = "\n\n".join(blocks) + "\n"
        elif fmt == "tex":
            text = "\n".join(to_latex(part, _join(caption, title), digits)
                             for title, part in parts)
        else:
            raise ValueError(f"unknown table format {fmt!r}; valid: {', '.join(FORMATS)}")
        path = stem.with_name(f"{stem.name}.{fmt}")
        _write_atomic(path, text)
        paths.append(path)
    return paths


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table; numeric columns right-aligned, NaN as empty cells."""
    cells = _cells(df, digits)
    head = [str(c) for c in df.columns]
    align = ["---:" if _numeric(col) else "---" for col in zip(*cells, strict=True)] \
        if cells else ["---"] * len(head)

    def line(values):
        return "| " + " | ".join(v.replace("|", r"\|") for v in values) + " |"

    return "\n".join([line(head), "|" + "|".join(align) + "|", *(line(r) for r in cells)])


def to_latex(df: pd.DataFrame, caption: str | None = None, digits: int = 4) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    cells = _cells(df, digits)
    spec = "".join("r" if _numeric(col) else "l" for col in zip(*cells, strict=True)) \
        if cells else "l" * len(df.columns)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
              " & ".join(latex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in cells]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _join(caption: str | None, title: str | None) -> str | None:
    """A caption followed by a part's title, either of which may be missing."""
    return " ".join(t for t in (caption, f"({title})" if title else None) if t) or None


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (and write ± and − in math mode)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _cells(df: pd.DataFrame, digits: int) -> list[list[str]]:
    """Every cell as text: floats rounded, NaN / None empty, booleans as yes / no."""
    def text(v) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
            return ""
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}f}"
        return str(v)

    return [[text(v) for v in row] for row in df.itertuples(index=False, name=None)]


def _numeric(column) -> bool:
    """Whether every non-empty cell of a column starts like a number."""
    values = [v for v in column if v]
    return bool(values) and all(_NUMBER.match(v) for v in values)


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def update_block(path: str | Path, key: str, block: str, check: bool = False) -> bool | None:
    """Replace what stands between ``<!-- key:begin -->`` and ``<!-- key:end -->`` in a file.

    Markers keep generated blocks inside hand-written prose. True: the file holds ``block``;
    False: ``check`` (writes nothing) found it stale; None: no markers, file left alone.
    """
    path = Path(path)
    text = path.read_text()
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    found = re.search(re.escape(begin) + r"\n(.*?)\n?" + re.escape(end), text, flags=re.S)
    if not found:
        return None
    block = block.rstrip("\n")
    if found.group(1).rstrip("\n") == block:
        return True
    if check:
        return False
    _write_atomic(path, text[:found.start()] + f"{begin}\n{block}\n{end}"
                  + text[found.end():])
    return True
