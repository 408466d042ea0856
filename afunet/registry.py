"""The models of the study, declared once: key, display name, the paper's row, colour, class.

Importable without torch: tables, plots, the CLI's help and the study plan read it, and
`afunet.models.create_model` builds from it. Registration order is the paper's Table 1 order,
which every table and plot follows. A seventh model is its module plus one `register` call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from afunet.errors import AfunetError

OTHER_COLOR = "#6E6E6E"  # any key without a registered colour (grey)
# Rows of a results table that are not models, with their display names.
OTHER_LABELS = {"observer2": "2nd human observer"}
PAPER_MODEL = "afunet"  # the paper's own model: drawn in front, compared against the rest


@dataclass(frozen=True)
class ModelSpec:
    """One model of the study."""

    name: str  # key in configs, run names and result files, e.g. "afunet"
    label: str  # as tables and figures print it, e.g. "AF-UNet"
    builder: str | Callable  # "module:Class", imported on first use so this file needs no torch
    color: str = OTHER_COLOR
    paper_method: str | None = None  # its row name in the paper's tables (paper_tables.csv)

    def load(self) -> Callable:
        """The class (or factory) that builds the model."""
        if not isinstance(self.builder, str):
            return self.builder
        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model (after the others in every table and plot); its name must be new."""
    if spec.name in MODELS or spec.name in OTHER_LABELS:
        raise AfunetError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model (tests register toy models and take them away again)."""
    MODELS.pop(name, None)


def names() -> list[str]:
    """Registered model keys, in the paper's order."""
    return list(MODELS)


def get(name: str) -> ModelSpec:
    """A model's spec; an unknown name is an error that lists the valid ones."""
    if name not in MODELS:
        raise AfunetError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def label(name: str) -> str:
    """Display name of a model key (or of the second observer); the key itself when unknown."""
    spec = MODELS.get(name)
    return spec.label if spec else OTHER_LABELS.get(name, name)


def color(name: str) -> str:
    """Fixed colour of a model key (grey when unknown)."""
    spec = MODELS.get(name)
    return spec.color if spec else OTHER_COLOR


def order(keys) -> list[str]:
    """Model keys in registration order, unknown ones after (sorted)."""
    keys = set(keys)
    return [m for m in MODELS if m in keys] + sorted(keys - set(MODELS))


def paper_methods() -> dict[str, str]:
    """The paper's method names (as in paper_tables.csv) -> model keys."""
    return {s.paper_method: s.name for s in MODELS.values() if s.paper_method}


# Okabe-Ito colours, safe for the common colour-vision deficiencies (its yellow is left out: it
# vanishes on white). AF-UNet gets vermillion, the most saturated, and is drawn in front.
for _spec in (
    ModelSpec("unet", "U-Net", "afunet.models.unet:UNet", "#0072B2", "UNet"),
    ModelSpec("unetpp", "UNet++", "afunet.models.unetpp:UNetPlusPlus", "#56B4E9", "UNet++"),
    ModelSpec("resunet", "ResUNet", "afunet.models.resunet:ResUNet", "#009E73", "ResUNet"),
    ModelSpec("resunetpp", "ResUNet++", "afunet.models.resunetpp:ResUNetPlusPlus", "#E69F00",
              "ResUNet++"),
    ModelSpec("attention_unet", "Attention U-Net", "afunet.models.attention_unet:AttentionUNet",
              "#CC79A7", "AttentionUNet"),
    ModelSpec("afunet", "AF-UNet", "afunet.models.afunet:AFUNet", "#D55E00", "AF-UNet"),
):
    register(_spec)
