"""afunet.models.trace: decoder inputs named from hooks, the model left untouched; the drawing."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from afunet.models import create_model  # noqa: E402
from afunet.models.blocks import stage_channels  # noqa: E402
from afunet.models.trace import decoder_inputs, trace  # noqa: E402
from afunet.plotting import draw_architecture  # noqa: E402

WIDTH, SIZE = 4, 32


def build(name: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, width=WIDTH, **kw)


def decoders(stages):
    return {s.name: s for s in stages if s.name.startswith("decoder.")}


def test_unet_decoder_gets_up_sampled_map_and_same_level_skip():
    ch = stage_channels(WIDTH)
    stages = decoders(trace(build("unet"), SIZE))
    assert list(stages) == ["decoder.3", "decoder.2", "decoder.1", "decoder.0"]  # call order
    for d in range(4):
        side = SIZE // 2**d
        parts = stages[f"decoder.{d}"].parts
        assert [(p.role, p.source, p.shape) for p in parts] == [
            ("up-sampled", f"up.{d}", (ch[d], side, side)),
            ("skip", f"encoder.{d}", (ch[d], side, side)),
        ]
        assert stages[f"decoder.{d}"].level == d


@pytest.mark.parametrize("skip_source", ["adjacent", "first"])
def test_afunet_extra_skip_is_a_max_pooled_shallower_map(skip_source):
    ch = stage_channels(WIDTH)
    stages = decoders(trace(build("afunet", skip_source=skip_source), SIZE))
    assert len(stages["decoder.0"].parts) == 2  # full resolution: nothing shallower
    for d in range(1, 4):
        stage = stages[f"decoder.{d}"]
        src = d - 1 if skip_source == "adjacent" else 0
        extra = stage.parts[-1]
        assert len(stage.parts) == 3
        assert (extra.role, extra.source, extra.pool) == ("max-pooled skip", f"encoder.{src}",
                                                          2 ** (d - src))
        assert extra.shape == (ch[src], SIZE // 2**d, SIZE // 2**d)
        assert sum(p.shape[0] for p in stage.parts) == stage.in_shape[0]


def test_afunet_without_extra_skip_traces_like_unet():
    plain = decoder_inputs(trace(build("unet"), SIZE))
    assert decoder_inputs(trace(build("afunet", skip_source="none"), SIZE)) == plain


def test_attention_gate_output_is_traced_back_to_its_encoder_stage():
    stages = decoders(trace(build("attention_unet"), SIZE))
    skip = stages["decoder.2"].parts[1]
    assert (skip.role, skip.source, skip.via) == ("skip through gates", "encoder.2", "gates.2")


def test_trace_leaves_the_model_as_it_was():
    model = build("afunet")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace(model, SIZE)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics too


def test_odd_input_sizes_are_traced_as_padded():
    stages = trace(build("unet"), 40)
    assert stages[0].in_shape == (3, 48, 48)  # padded to a multiple of 16 by the model


def test_models_outside_the_unet_family_are_refused():
    with pytest.raises(ValueError, match="U-Net family"):
        trace(build("resunet"), SIZE)


def test_decoder_inputs_rows_name_shape_and_pooling():
    rows = decoder_inputs(trace(build("afunet"), SIZE))
    assert len(rows) == 4 * 2 + 3
    assert rows[2] == {"decoder stage": "decoder.3", "input": "max-pooled skip",
                       "from": "encoder.2, max-pooled 2×2", "C×H×W": f"{4 * WIDTH}×4×4"}


def test_drawing_shows_one_dashed_arrow_per_asymmetric_skip():
    fig, axes = plt.subplots(1, 2)
    for ax, name in zip(axes, ["unet", "afunet"], strict=True):
        draw_architecture(trace(build(name), SIZE), ax, title=name)
    dashed = [sum(p.get_linestyle() != "solid" for p in ax.patches
                  if type(p).__name__ == "FancyArrowPatch") for ax in axes]
    assert dashed == [0, 3]
    texts = " ".join(t.get_text() for t in axes[1].texts)
    assert f"{8 * WIDTH}+{8 * WIDTH}+{4 * WIDTH}" in texts  # decoder.3's input, part by part
    assert f"bottleneck\n{16 * WIDTH}×2×2" in texts
    plt.close(fig)
