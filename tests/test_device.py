"""Device settings: what "auto" resolves to, and that the memory layout changes speed, not output."""

import numpy as np
import pytest
import torch

from afunet import device as dev
from afunet.data.synthetic import generate
from afunet.inference import load_checkpoint, predict_probability
from afunet.training import make_config, train

CPU = torch.device("cpu")


@pytest.mark.parametrize("avx512", [True, False])
def test_auto_channels_last_on_cpu_follows_avx512(monkeypatch, avx512):
    monkeypatch.setattr(dev, "cpu_has_avx512", lambda: avx512)
    assert dev.resolve_channels_last("auto", CPU) is avx512
    assert dev.resolve_channels_last(True, CPU) is True  # an explicit setting wins
    assert dev.resolve_channels_last(False, CPU) is False
    assert dev.resolve_channels_last("auto", torch.device("mps")) is False


def test_cpu_has_avx512_is_a_bool():
    assert isinstance(dev.cpu_has_avx512(), bool)


def test_auto_precision_is_fp32_on_cpu():
    assert dev.resolve_precision("auto", CPU) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        dev.resolve_precision("fp16", CPU)


def test_layouts_give_the_same_probabilities(tmp_path, monkeypatch):
    """A checkpoint predicts the same map in NCHW and channels_last (float noise only)."""
    train(make_config("smoke", epochs=1), tmp_path / "run", cache_dir=tmp_path / "cache",
          progress=False)
    sample = generate(1, size=(64, 72), seed=2)[0]
    maps = {}
    for avx512 in (False, True):
        monkeypatch.setattr(dev, "cpu_has_avx512", lambda avx512=avx512: avx512)
        model, config = load_checkpoint(tmp_path / "run", "cpu")
        first = next(p for p in model.parameters() if p.dim() == 4)
        assert first.is_contiguous(memory_format=torch.channels_last) is avx512
        maps[avx512] = predict_probability(model, sample.image, config, sample.fov)
    assert maps[True].shape == (64, 72)
    np.testing.assert_allclose(maps[True], maps[False], atol=1e-5)
