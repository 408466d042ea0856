"""Device settings: what "auto" resolves to, the channels_last guard, and that the memory layout
changes speed, not output."""

import numpy as np
import pytest
import torch

from afunet import device as dev
from afunet.bench import bench
from afunet.data.synthetic import generate
from afunet.errors import AfunetError
from afunet.inference import load_checkpoint, predict_probability
from afunet.models import create_model, list_models
from afunet.training import make_config, train

CPU = torch.device("cpu")


def test_auto_settings_on_cpu_are_fp32_and_nchw():
    assert dev.resolve_channels_last("auto", CPU) is False  # unsafe on CPUs (afunet/device.py)
    assert dev.resolve_channels_last(True, CPU) is True  # an explicit setting wins
    assert dev.resolve_precision("auto", CPU) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        dev.resolve_precision("fp16", CPU)


@pytest.mark.parametrize(("name", "width", "refused"), [
    ("resunet", 4, True), ("resunetpp", 8, True), ("resunet", 16, False), ("afunet", 4, False),
])
def test_channels_last_guard_refuses_the_crashing_convolution(name, width, refused):
    model = create_model(name, width=width)
    if refused:
        with pytest.raises(AfunetError, match="1x1 convolution with .* input channels"):
            dev.check_channels_last(model, CPU)
    else:
        dev.check_channels_last(model, CPU)
    dev.check_channels_last(model, torch.device("cuda"))  # only CPUs are affected


def test_training_in_channels_last_is_refused_before_it_crashes(tmp_path):
    config = make_config("smoke", model="resunet", channels_last=True, device="cpu")
    with pytest.raises(AfunetError, match="channels_last=false"):
        train(config, tmp_path / "run", cache_dir=tmp_path / "cache", progress=False)


@pytest.mark.parametrize("name", list_models())
def test_a_training_step_gives_the_same_gradients_in_both_layouts(name):
    """At the cpu profile's width 16 channels_last changes float rounding only: memory
    corruption, as at widths up to 8 (afunet/device.py), would change gradients wholesale."""
    torch.manual_seed(0)
    model = create_model(name, width=make_config("cpu").width).train()
    dev.check_channels_last(model, CPU)
    image, label = torch.randn(2, 3, 64, 64), (torch.rand(2, 1, 64, 64) > 0.8).float()
    grads = []
    for layout in (torch.contiguous_format, torch.channels_last):
        model = model.to(memory_format=layout)
        model.zero_grad()
        logits = model(image.contiguous(memory_format=layout))
        logits = logits[-1] if isinstance(logits, (list, tuple)) else logits
        torch.nn.functional.binary_cross_entropy_with_logits(logits, label).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    nchw, nhwc = grads
    # Measured: at most 2.2e-4 of the largest gradient (ResUNet++), 1e-6 for AF-UNet.
    assert (nhwc - nchw).abs().max() <= 1e-3 * nchw.abs().max()


def test_layouts_give_the_same_probabilities(tmp_path):
    """A checkpoint predicts the same map in NCHW and channels_last (float noise only)."""
    train(make_config("smoke", epochs=1), tmp_path / "run", cache_dir=tmp_path / "cache",
          progress=False)
    sample = generate(1, size=(64, 72), seed=2)[0]
    model, config = load_checkpoint(tmp_path / "run", "cpu")
    nchw = predict_probability(model, sample.image, config, sample.fov)
    model = model.to(memory_format=torch.channels_last)
    nhwc = predict_probability(model, sample.image, config.replace(channels_last=True),
                               sample.fov)
    assert nhwc.shape == (64, 72)
    np.testing.assert_allclose(nhwc, nchw, atol=1e-5)


def test_bench_skips_a_refused_layout_and_times_the_rest(capsys):
    rows = bench(["resunet"], width=4, size=32, batch_size=1, steps=1, warmup=0, device="cpu",
                 channels_last=(True, False), verbose=False)
    assert [row["channels_last"] for row in rows] == [False]
    assert "resunet         skipped: channels_last on a CPU crashes" in capsys.readouterr().err
