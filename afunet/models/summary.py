"""Parameter and FLOP counts of a model, from torch's own FLOP counter."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def summary(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 512, 512)) -> dict:
    """Params and forward FLOPs (convs and matmuls, multiply-add = 2); works on "meta" models."""
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
