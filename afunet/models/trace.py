"""What each stage of a U-Net-family model receives and returns, recorded by forward hooks.

    stages = trace(create_model("afunet", width=8), size=64)
    decoder_inputs(stages)       # one row per map concatenated at a decoder stage's input
    afunet.plotting.draw_architecture(stages)    # the U, drawn from those records

A decoder stage receives one concatenated tensor. Its parts are named by matching its channel
slices exactly against the outputs of the other stages, max-pooled to its size where larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FAMILY = ("encoder", "bottleneck", "up", "decoder", "head")  # modules trace() needs


@dataclass(frozen=True)
class Part:
    """One map in a decoder stage's concatenated input."""

    role: str  # "up-sampled", "skip", "max-pooled skip", "skip through <module>" or "unmatched"
    source: str | None  # the stage it comes from, e.g. "encoder.1"; None when unmatched
    shape: tuple[int, ...]  # (C, H, W)
    pool: int = 1  # max-pool window applied to the source's output (1: none)
    via: str | None = None  # a module between source and concatenation, e.g. "gates.2"


@dataclass(frozen=True)
class Stage:
    """One module's input and output shapes (C, H, W); a decoder stage's input also in parts."""

    name: str  # "encoder.0", "bottleneck", "up.3", "decoder.3", "head", ...
    level: int  # its output's resolution is 1 / 2**level of the (padded) input's
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    parts: tuple[Part, ...] = ()


def trace(model: nn.Module, size: int = 64, seed: int = 0) -> list[Stage]:
    """Stages in call order, from one forward pass of a seeded random (1, C, size, size) input.

    For U-Net, Attention U-Net and AF-UNet (children encoder, bottleneck, up, decoder, head). The
    pass runs in eval mode without gradients; the model is left as it was, its hooks removed.
    """
    missing = [name for name in FAMILY if not hasattr(model, name)]
    if missing:
        raise ValueError(f"{type(model).__name__} has no {', '.join(missing)}: trace() reads "
                         "the U-Net family (unet, attention_unet, afunet)")
    modules = {}
    for name, child in model.named_children():
        items = child.named_children() if isinstance(child, nn.ModuleList) else [("", child)]
        modules.update({f"{name}.{i}" if i else name: m for i, m in items})
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def keeper(name):
        def hook(module, inputs, output):
            seen[name] = (inputs[0].detach(), output.detach())
        return hook

    handles = [m.register_forward_hook(keeper(name)) for name, m in modules.items()]
    param = next(model.parameters())
    x = torch.randn(1, model.in_channels, size, size, generator=torch.Generator().manual_seed(seed))
    was_training = model.training
    try:
        model.eval()  # BN in training mode would update its running statistics
        with torch.no_grad():
            model(x.to(param))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    top = seen["encoder.0"][0].shape[-2]  # the padded input's height
    stages = []
    for name, (inp, out) in seen.items():
        parts = _split(inp, seen) if name.startswith("decoder.") else ()
        stages.append(Stage(name, round(math.log2(top / out.shape[-2])), _shape(inp), _shape(out),
                            tuple(parts)))
    return stages


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(n) for n in t.shape[1:])


def _split(cat: torch.Tensor, seen: dict) -> list[Part]:
    """The maps concatenated in ``cat``, left to right, found by exact comparison."""
    # Candidates: up-samplers, then encoder stages, then the rest (Attention U-Net's gates).
    rank = {"up": 0, "encoder": 1}
    order = sorted((n for n in seen if n.split(".")[0] not in ("decoder", "bottleneck", "head")),
                   key=lambda n: rank.get(n.split(".")[0], 2))
    h, w = cat.shape[-2:]
    parts, offset = [], 0
    while offset < cat.shape[1]:
        found = None
        for name in order:
            out = seen[name][1]
            pool = out.shape[-2] // h
            if pool < 1 or tuple(out.shape[-2:]) != (h * pool, w * pool):
                continue
            if pool > 1 and not name.startswith("encoder."):
                continue  # only encoder maps are pooled into a decoder
            c = out.shape[1]
            ref = out if pool == 1 else F.max_pool2d(out, pool)
            if offset + c <= cat.shape[1] and torch.equal(cat[:, offset:offset + c], ref):
                found = _part(name, ref, pool, seen)
                break
        if found is None:
            parts.append(Part("unmatched", None, _shape(cat[:, offset:])))
            break
        parts.append(found)
        offset += found.shape[0]
    return parts


def _part(name: str, ref: torch.Tensor, pool: int, seen: dict) -> Part:
    """Name a matched map by the module that made it."""
    if name.startswith("up."):
        return Part("up-sampled", name, _shape(ref))
    if name.startswith("encoder."):
        return Part("skip" if pool == 1 else "max-pooled skip", name, _shape(ref), pool)
    # A module between an encoder map and the decoder (Attention U-Net's gates): find its source.
    inp = seen[name][0]
    source = next((n for n, (_, out) in seen.items() if n.startswith("encoder.")
                   and out.shape == inp.shape and torch.equal(out, inp)), None)
    return Part(f"skip through {name.split('.')[0]}", source, _shape(ref), via=name)


def shape_label(shape: tuple[int, ...]) -> str:
    """(C, H, W) as "C×H×W"."""
    return "×".join(str(n) for n in shape)


def decoder_inputs(stages: list[Stage]) -> list[dict]:
    """One row per map concatenated at each decoder stage, in the order of concatenation."""
    rows = []
    for stage in stages:
        for part in stage.parts:
            source = part.source or "?"
            if part.pool > 1:
                source += f", max-pooled {part.pool}×{part.pool}"
            if part.via:
                source += f", through {part.via}"
            rows.append({"decoder stage": stage.name, "input": part.role, "from": source,
                         "C×H×W": shape_label(part.shape)})
    return rows
