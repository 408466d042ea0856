"""One look for every figure of the project: seaborn theme, model names and colours, saving."""

from __future__ import annotations

import os
from pathlib import Path

import seaborn as sns

from afunet.models import MODEL_LABELS  # re-exported as afunet.plotting.MODEL_LABELS

# Okabe-Ito colours (safe for the common colour-vision deficiencies). AF-UNet gets vermillion,
# the most saturated one, and is also drawn thicker / larger (see ``is_focus``); the yellow of
# the palette is left out because it vanishes on a white background.
MODEL_COLORS = {
    "unet": "#0072B2",  # blue
    "unetpp": "#56B4E9",  # sky blue
    "resunet": "#009E73",  # bluish green
    "resunetpp": "#E69F00",  # orange
    "attention_unet": "#CC79A7",  # reddish purple
    "afunet": "#D55E00",  # vermillion
}
OTHER_COLOR = "#6E6E6E"  # any model not listed above
FOCUS_MODEL = "afunet"

# Journal column widths in inches (single / double column of most Elsevier / IEEE journals).
COLUMN_WIDTH = 3.5
PAGE_WIDTH = 7.2
DPI = 200


def model_label(name: str) -> str:
    """Display name of a model key (the key itself when unknown)."""
    return MODEL_LABELS.get(name, name)


def model_color(name: str) -> str:
    """Fixed colour of a model key (grey when unknown)."""
    return MODEL_COLORS.get(name, OTHER_COLOR)


def is_focus(name: str) -> bool:
    """Whether a model is the paper's own (drawn more prominently)."""
    return name == FOCUS_MODEL


def set_style() -> None:
    """Apply the project's plotting style (call once before drawing; idempotent).

    Seaborn "paper" context with the "ticks" style and the colour-blind palette, font sizes that
    stay legible at journal column width, constrained layout, and embedded TrueType fonts so the
    PDFs are editable and accepted by publishers.
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
    """Write ``stem.png`` and ``stem.pdf`` atomically, creating the parent folders.

    Each file is written to a temporary name in the same folder and then renamed, so an
    interrupted run never leaves a half-written figure behind that looks valid.

    Args:
        fig: a matplotlib Figure.
        stem: path without suffix (a suffix, if given, is replaced), e.g. ``figures/figure2``.
        dpi: resolution of the PNG.

    Returns:
        [png path, pdf path].
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
                # bbox "tight" grows the saved area to every artist, so nothing is clipped.
                # No creation date in the PDF, so rebuilding a figure from the same
                # results gives the same bytes and git sees no change.
                meta = {"CreationDate": None} if fmt == "pdf" else None
                fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.03,
                            metadata=meta)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths
