"""Markdown table of the models' parameters and forward GFLOPs.

    python -m afunet.models.table --widths 64 16 --size 512

Models are built on the "meta" device, so counting takes about a second even at width 64.
"""

import argparse
from pathlib import Path

import torch

from afunet import registry
from afunet.models import create_model, list_models, summary
from afunet.reporting.writers import update_block


def count(name: str, width: int, size: int, in_channels: int = 3) -> dict:
    """summary() of model `name` at `width` on a (1, in_channels, size, size) input."""
    with torch.device("meta"):
        model = create_model(name, in_channels=in_channels, width=width)
    return summary(model, (1, in_channels, size, size))


def markdown(widths: list[int], size: int) -> str:
    """One row per model, a params (M) and a GFLOPs column per width.

    GFLOPs are FlopCounterMode's (multiply-add = 2 FLOPs) for one forward pass at size x size.
    """
    head = ["Model"]
    for w in widths:
        head += [f"Params (M), width {w}", f"GFLOPs {size}x{size}, width {w}"]
    rule = ["---"] + ["---:"] * (len(head) - 1)  # numbers right-aligned
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    for name in list_models():
        cells = [registry.label(name)]
        for w in widths:
            s = count(name, w, size)
            cells += [f"{s['params'] / 1e6:.2f}", f"{s['gflops']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table (the README's model table is made with this)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 16],
                        help="first-stage widths (default: 64 16)")
    parser.add_argument("--size", type=int, default=512, help="square input side (default: 512)")
    parser.add_argument("--readme", type=Path,
                        help="also write the table between the model-table markers of this file")
    args = parser.parse_args(argv)
    table = markdown(args.widths, args.size)
    print(table)
    if args.readme:
        command = (f"python -m afunet.models.table --widths {' '.join(map(str, args.widths))} "
                   f"--size {args.size}")
        block = (f"{table}\n\nMade by `make model-table` (`{command}`); FLOPs from "
                 "`torch.utils.flop_counter`, a multiply-add counting 2.")
        if update_block(args.readme, "model-table", block) is None:
            raise SystemExit(f"{args.readme}: add the markers <!-- model-table:begin --> and "
                             "<!-- model-table:end --> where the table belongs")


if __name__ == "__main__":
    main()
