"""The fast variant: same parameters, same start, same trajectory as the reference; its CPU
attention and dropout keep the lecture's semantics; bf16, fused AdamW and compile choices."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gpubench.core import training
from gpubench.core.data import TextSource, build_dataset
from gpubench.core.models import count_parameters, load_model, parse_overrides, resolve_config
from gpubench.core.training import TrainingSession, autocast_dtype, optimizer_options
from gpubench.core.tuning import LOSS_TOLERANCE, FastChoices
from tests.conftest import TINY_GPT_OVERRIDES, make_tiny_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCAB = 65
CPU = torch.device("cpu")


def _session(
    variant: str,
    *,
    steps: int = 0,
    compile_model: bool = False,
    choices: dict | None = None,
    **extra: str,
) -> TrainingSession:
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES) | extra)
    dataset = build_dataset(TextSource(label="tiny", text=make_tiny_text()), min_length=17)
    session = TrainingSession(
        spec, config, dataset, "cpu", variant=variant, compile_model=compile_model,
        fast_choices=FastChoices(choices) if choices is not None else None,
    )  # fmt: skip
    for _ in range(steps):
        session.step()
    return session


# --- same network ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"), [("gpt", 10_788_929), ("bigram", 4_225), ("bigram-pos", 4_481)]
)
def test_fast_variant_has_the_reference_parameter_count(name, expected):
    spec = load_model(name)
    assert spec.variants == ("reference", "fast")
    counts = {v: count_parameters(spec.build(spec.defaults, VOCAB, v)) for v in spec.variants}
    assert counts == {"reference": expected, "fast": expected}


def test_fused_qkv_weight_is_the_concatenation_of_the_per_head_weights():
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES))
    torch.manual_seed(7)
    reference = spec.build(config, VOCAB, "reference")
    torch.manual_seed(7)
    fast = spec.build(config, VOCAB, "fast")
    heads = reference.blocks[0].sa.heads
    expected = torch.cat(
        [torch.cat([getattr(h, name).weight for h in heads]) for name in ("query", "key", "value")]
    )
    assert torch.equal(fast.blocks[0].sa.qkv.weight, expected)
    assert fast.blocks[0].sa.qkv.bias is None
    assert torch.equal(fast.lm_head.weight, reference.lm_head.weight)


def test_building_the_fast_variant_draws_nothing_more_from_the_random_stream():
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES))
    after = {}
    for variant in spec.variants:
        torch.manual_seed(3)
        spec.build(config, VOCAB, variant)
        after[variant] = torch.rand(4)
    assert torch.equal(after["reference"], after["fast"])


def test_fast_and_reference_agree_in_eval_mode():
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES))
    models = {}
    for variant in spec.variants:
        torch.manual_seed(11)
        models[variant] = spec.build(config, VOCAB, variant).eval()
    idx = torch.randint(VOCAB, (4, 16))
    logits = {v: m(idx)[0] for v, m in models.items()}
    torch.testing.assert_close(logits["fast"], logits["reference"], rtol=1e-5, atol=1e-5)


# --- same training -------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fast_loss_after_20_steps_is_within_2_percent_of_the_reference(precision):
    # dropout=0: with dropout the two implementations draw their masks differently.
    choices = training.default_fast_options(CPU) | {"precision": precision}
    losses = {
        "reference": _session("reference", steps=20, dropout="0").step().item(),
        "fast": _session("fast", steps=20, dropout="0", choices=choices).step().item(),
    }
    assert losses["fast"] == pytest.approx(losses["reference"], rel=LOSS_TOLERANCE)
    if precision == "fp32":  # far closer than the tolerance the spec allows
        assert losses["fast"] == pytest.approx(losses["reference"], rel=1e-4)


def test_fast_variant_trains_with_dropout():
    session = _session("fast", dropout="0.2", learning_rate="3e-3", eval_iters="8")
    before = session.estimate_loss()["train"]
    for _ in range(60):
        session.step()
    after = session.estimate_loss()["train"]
    assert after < before - 0.5


# --- the CPU attention and dropout keep the lecture's semantics ------------------------------


def _gpt_module():
    return load_model("gpt").module


def test_cpu_attention_is_causal_softmax_attention(monkeypatch):
    gpt = _gpt_module()
    monkeypatch.setattr(gpt, "keep_mask", lambda shape, p, device: torch.ones(shape, dtype=bool))
    q, k, v = (torch.randn(5, 2, 16, 8) for _ in range(3))
    ours = gpt.causal_attention_with_dropout(q, k, v, 0.2, 8**-0.5) * 0.8  # undo the rescale
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=8**-0.5)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def test_cpu_attention_drops_attention_weights_not_outputs(monkeypatch):
    gpt = _gpt_module()
    masks = []

    def all_dropped_but_diagonal(shape, p, device):
        mask = torch.eye(shape[-1], dtype=torch.bool).expand(shape)
        masks.append(mask)
        return mask

    monkeypatch.setattr(gpt, "keep_mask", all_dropped_but_diagonal)
    q, k, v = (torch.randn(2, 2, 8, 4) for _ in range(3))
    out = gpt.causal_attention_with_dropout(q, k, v, 0.5, 0.5)
    weights = F.softmax((q @ k.mT * 0.5).masked_fill(torch.ones(8, 8).triu(1).bool(), -1e9), -1)
    diagonal = torch.diagonal(weights, dim1=-2, dim2=-1).unsqueeze(-1)
    torch.testing.assert_close(out, diagonal * v / 0.5, rtol=1e-5, atol=1e-6)
    assert masks and masks[0].shape == (4, 8, 8)


def test_slicing_the_batch_changes_neither_loss_nor_gradients(monkeypatch):
    spec = load_model("gpt")  # each load runs the file anew: patch this spec's module
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES) | {"dropout": "0"})
    torch.manual_seed(5)
    model = spec.build(config, VOCAB, "fast").set_fast_options(batch_slices=True)
    idx = torch.randint(VOCAB, (5, 16))

    def loss_and_grads():
        model.zero_grad()
        logits, loss = model(idx, idx)
        loss.backward()
        return logits, loss, [p.grad.clone() for p in model.parameters()]

    whole = loss_and_grads()
    assert model.slice_rows(16) >= 5  # one slice at this size
    monkeypatch.setattr(spec.module, "ACTIVATION_SLICE_BYTES", 2 * 16 * 128 * 4)  # 2 sequences
    assert model.slice_rows(16) == 2
    sliced = loss_and_grads()
    torch.testing.assert_close(sliced[0], whole[0])
    torch.testing.assert_close(sliced[1], whole[1])
    for ours, theirs in zip(sliced[2], whole[2], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_lecture_config_slices_ten_sequences_at_a_time():
    spec = load_model("gpt")
    with torch.device("meta"):
        model = spec.build(spec.defaults, VOCAB, "fast")
    # scores: 6 heads x 256 x 256 and hidden layer: 256 x 1536, both 1.5 MiB a sequence
    assert model.slice_rows(256) == 10


def test_keep_mask_keeps_each_element_with_probability_one_minus_p():
    gpt = _gpt_module()
    torch.manual_seed(0)
    mask = gpt.keep_mask(torch.Size((1000, 1000)), 0.2, CPU)
    assert mask.dtype == torch.bool and mask.shape == (1000, 1000)
    # 1e6 Bernoulli(0.8) draws: standard deviation of the mean 4e-4.
    assert mask.float().mean().item() == pytest.approx(0.8, abs=2e-3)
    assert mask[:, :500].float().mean().item() == pytest.approx(0.8, abs=3e-3)  # both lanes
    assert mask[::2].float().mean().item() == pytest.approx(
        mask[1::2].float().mean().item(), abs=4e-3
    )
    torch.manual_seed(0)
    assert torch.equal(gpt.keep_mask(torch.Size((1000, 1000)), 0.2, CPU), mask)


def test_fast_dropout_matches_nn_dropout_in_expectation_and_is_identity_in_eval():
    gpt = _gpt_module()
    dropout = gpt.FastDropout(0.25)
    x = torch.ones(500, 400)
    out = dropout(x)
    assert out.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert (out == 0).float().mean().item() == pytest.approx(0.25, abs=5e-3)
    assert out.mean().item() == pytest.approx(1.0, abs=1e-2)
    assert dropout.eval()(x) is x
    assert gpt.FastDropout(0.0)(x) is x


def test_unknown_variant_is_refused_by_the_model_file():
    with pytest.raises(ValueError, match="unknown variant 'turbo'"):
        _gpt_module().build(load_model("gpt").defaults, VOCAB, "turbo")


# --- dtype, optimizer and compile choices ----------------------------------------------------


def test_no_rule_about_cpu_models_decides_bf16(monkeypatch):
    """Before measuring, the CPU trains in fp32 whatever its flags; only the probe turns
    bf16 on (gpubench/core/tuning.py)."""
    assert not hasattr(training, "cpu_has_native_bf16")
    for amx in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        assert autocast_dtype("fast", CPU) is None
    assert autocast_dtype("reference", CPU) is None


def test_cuda_autocast_is_bf16_from_ampere_and_fp32_before(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert autocast_dtype("fast", cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    assert autocast_dtype("fast", cuda) is None  # fp16 would need a GradScaler
    assert autocast_dtype("reference", cuda) is None


def test_fast_variant_uses_fused_adamw_unless_measured_otherwise():
    assert optimizer_options({"adamw": "fused"}) == {"fused": True}
    assert optimizer_options({"adamw": "foreach"}) == {}
    assert optimizer_options({}) == {}  # the reference: the lecture's AdamW
    assert _session("fast").optimizer.defaults["fused"] is True
    assert not _session("reference").optimizer.defaults.get("fused")
    foreach = _session("fast", choices={"precision": "fp32", "adamw": "foreach"})
    assert not foreach.optimizer.defaults.get("fused")


def test_session_applies_the_measured_choices_to_model_dtype_and_evaluation(monkeypatch):
    choices = {"precision": "bf16", "attention": "sdpa", "dropout_mask": "torch",
               "batch_slices": False, "adamw": "fused"}  # fmt: skip
    session = _session("fast", choices=choices)
    assert session.dtype == torch.bfloat16
    block = session.model.blocks[0]
    assert (block.sa.attention, block.sa.dropout.mask, block.ffwd.net[3].mask) == (
        "sdpa", "torch", "torch",
    )  # fmt: skip
    assert session.model.batch_slices is False
    seen = []
    original = torch.autocast.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("dtype"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.autocast, "__init__", spy)
    session.estimate_loss(1)
    session.step()
    assert seen and set(seen) == {torch.bfloat16}  # evaluation and training alike


def test_reference_variant_ignores_fast_choices():
    session = _session("reference", choices={"precision": "bf16", "adamw": "fused"})
    assert session.dtype is None and session.fast_options == {}


def test_model_file_refuses_an_unknown_option_value():
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES))
    with pytest.raises(ValueError, match="attention='flash'"):
        spec.build(config, VOCAB, "fast").set_fast_options(attention="flash")


def test_compile_is_opt_in():
    session = _session("fast")
    assert session.compile_model is False
    with pytest.raises(RuntimeError, match="compile_model=True"):
        session.compile()


@pytest.mark.slow
def test_compile_is_a_phase_of_its_own_then_the_session_trains_evaluates_and_samples():
    session = _session("fast", compile_model=True, dropout="0.2")
    session.compile()
    assert type(session.model).__name__ == "OptimizedModule"
    assert torch.isfinite(session.step()).item()
    assert set(session.estimate_loss(2)) == {"train", "val"}
    assert isinstance(session.sample(20), str)  # generate stays eager past block_size
