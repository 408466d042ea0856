"""Parameter and FLOP counts of a model, from torch's own FLOP counter."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def summary(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 512, 512)) -> dict:
    """Count parameters and forward FLOPs of one eval-mode forward pass.

    FLOPs are what `torch.utils.flop_counter.FlopCounterMode` reports: convolutions (transposed
    too) and matrix products only, one multiply-add counted as 2 FLOPs; BN, activations,
    pooling and up-sampling are not counted. `macs` (multiply-accumulates) is flops / 2, the
    unit many papers call "FLOPs". Works on a model built on the "meta" device, which counts
    without allocating or computing anything (fast even at width 64 and 512x512).

    Args:
        model: the network; its training mode is restored afterwards.
        input_size: shape of the dummy input (B, C, H, W).
    Returns:
        dict(params=int, flops=int, gflops=float, macs=int).
    """
    params = sum(p.numel() for p in model.parameters())
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_size, device=device))
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    return dict(params=params, flops=flops, gflops=flops / 1e9, macs=flops // 2)
