"""One look for every figure: seaborn theme, sizes, saving (names, colours: `afunet.registry`)."""

from __future__ import annotations

import os
from pathlib import Path

import seaborn as sns

from afunet import registry

# Journal column widths in inches (single / double column of most Elsevier / IEEE journals).
COLUMN_WIDTH = 3.5
PAGE_WIDTH = 7.2
DPI = 200


def is_focus(name: str) -> bool:
    """Whether a model is the paper's own (drawn thicker, larger and in front)."""
    return name == registry.PAPER_MODEL


def set_style() -> None:
    """Apply the project's plotting style (call once before drawing; idempotent).

    Colour-blind palette, fonts legible at journal column width, and embedded TrueType fonts so
    the PDFs stay editable and publishers accept them.
    """
    sns.set_theme(
        context="paper",
        style="ticks",
        palette="colorblind",
        rc={
            "font.size": 8,
            "axes.titlesize": 8.5,
            "axes.labelsize": 8,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "legend.fontsize": 7,
            "legend.title_fontsize": 7.5,
            "figure.titlesize": 9.5,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#E5E5E5",
            "grid.linewidth": 0.6,
            "lines.linewidth": 1.4,
            "figure.constrained_layout.use": True,
            "figure.dpi": 100,
            "savefig.dpi": DPI,
            "image.interpolation": "nearest",  # segmentations must not be smoothed
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
        },
    )


def save(fig, stem, dpi: int = DPI) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` (a .png / .pdf suffix is dropped); returns both paths.

    Each goes to a temporary file renamed into place, so an interrupted run never leaves a
    half-written figure behind that looks valid. Parent folders are created.
    """
    stem = Path(stem)
    stem = stem.with_suffix("") if stem.suffix in (".png", ".pdf") else stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in ("png", "pdf"):
        path = stem.parent / f"{stem.name}.{fmt}"
        # A plain open (not mkstemp) keeps the usual file permissions after the rename.
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                # "tight" grows the saved area so nothing is clipped; no PDF creation date, so
                # the same results give the same bytes and git sees no change.
                meta = {"CreationDate": None} if fmt == "pdf" else None
                fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.03,
                            metadata=meta)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths
