"""The lecture's training loop: determinism, the bigram's real learning curve, the
evaluation schedule, callbacks and sampling."""

from __future__ import annotations

import pytest
import torch

from gpubench.core.data import TextSource, build_dataset
from gpubench.core.models import load_model, parse_overrides, resolve_config
from gpubench.core.training import (
    EvalPoint,
    TrainingSession,
    TrainResult,
    autocast_dtype,
    evaluation_steps,
    train,
)
from tests.conftest import TINY_GPT_OVERRIDES, make_tiny_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_gpt_session(
    seed: int = 1337, variant: str = "reference", **extra: str
) -> TrainingSession:
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES) | {"eval_iters": "4"} | extra)
    dataset = build_dataset(TextSource(label="tiny", text=make_tiny_text()), min_length=17)
    return TrainingSession(spec, config, dataset, "cpu", variant=variant, seed=seed)


def _losses(result: TrainResult) -> list[tuple[int, float, float]]:
    return [(p.step, p.train_loss, p.val_loss) for p in result.evals]


def test_same_seed_gives_identical_losses_twice():
    first = train(_tiny_gpt_session(), 12, eval_interval=5)
    second = train(_tiny_gpt_session(), 12, eval_interval=5)
    assert [p.step for p in first.evals] == [0, 5, 10, 11]
    assert _losses(first) == _losses(second)  # bit for bit, dropout included


def test_another_seed_gives_other_losses():
    first = train(_tiny_gpt_session(seed=1), 3, eval_interval=5)
    second = train(_tiny_gpt_session(seed=2), 3, eval_interval=5)
    assert _losses(first) != _losses(second)


def test_fast_variant_follows_the_reference_trajectory():
    """Same seed, no dropout (the two draw different dropout masks): the fused QKV / SDPA /
    fused AdamW variant starts from the same weights and tracks the reference closely."""
    reference = train(_tiny_gpt_session(dropout="0"), 20, eval_interval=5)
    fast = train(_tiny_gpt_session(variant="fast", dropout="0"), 20, eval_interval=5)
    assert [p.step for p in fast.evals] == [p.step for p in reference.evals] == [0, 5, 10, 15, 19]
    # fp32 here; a CPU with native bf16 runs the fast variant under bf16 autocast.
    tolerance = 1e-4 if autocast_dtype("fast", torch.device("cpu")) is None else 5e-2
    for ours, theirs in zip(fast.evals, reference.evals, strict=True):
        assert ours.train_loss == pytest.approx(theirs.train_loss, abs=tolerance)
        assert ours.val_loss == pytest.approx(theirs.val_loss, abs=tolerance)
    assert fast.evals[-1].train_loss < fast.evals[0].train_loss


def test_session_step_returns_a_scalar_loss_tensor():
    session = _tiny_gpt_session()
    loss = session.step()
    assert loss.ndim == 0 and loss.requires_grad
    assert session.model.training


def test_bigram_lecture_config_learns_the_corpus(corpus_path):
    """The lecture's bigram: ~4.7 at step 0, below 2.7 train and val within its 3000 steps."""
    spec = load_model("bigram")
    config = resolve_config(spec, {})
    assert (config["max_iters"], config["eval_interval"], config["eval_iters"]) == (3000, 300, 200)
    dataset = build_dataset(
        TextSource(label="tinyshakespeare", text=corpus_path.read_text(encoding="utf-8")),
        min_length=config["block_size"] + 1,
    )
    assert dataset.vocab_size == 65
    session = TrainingSession(spec, config, dataset, "cpu")
    result = train(session, config["max_iters"])
    assert [p.step for p in result.evals] == evaluation_steps(3000, 300)
    start, end = result.evals[0], result.evals[-1]
    assert start.train_loss > 4.0 and start.val_loss > 4.0
    assert end.step == 2999
    assert end.train_loss < 2.7 and end.val_loss < 2.7
    assert result.seconds > 0


@pytest.mark.parametrize(
    ("iters", "interval", "expected"),
    [
        (3000, 300, [0, 300, 600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 2999]),
        (1, 300, [0]),
        (0, 300, []),
        (2, 1, [0, 1]),
        (301, 300, [0, 300]),
        (302, 300, [0, 300, 301]),
        (5000, 500, [0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 4999]),
    ],
)
def test_evaluation_steps(iters, interval, expected):
    assert evaluation_steps(iters, interval) == expected


def test_train_calls_on_eval_at_the_evaluation_steps_and_on_step_every_step():
    session = _tiny_gpt_session()
    seen: list[EvalPoint] = []
    steps: list[int] = []
    result = train(session, 7, eval_interval=3, on_eval=seen.append, on_step=steps.append)
    assert [p.step for p in seen] == evaluation_steps(7, 3) == [0, 3, 6]
    assert seen == result.evals
    assert steps == list(range(7))
    assert result.iters == 7
    assert result.final == seen[-1]


def test_train_uses_the_config_eval_interval_by_default():
    session = _tiny_gpt_session(eval_interval="2")
    result = train(session, 5)
    assert [p.step for p in result.evals] == [0, 2, 4]


def test_train_times_the_loop_with_the_given_clock():
    ticks = iter([10.0, 12.5])
    result = train(_tiny_gpt_session(), 2, eval_interval=10, clock=lambda: next(ticks))
    assert result.seconds == 2.5


def test_no_final_point_without_iterations():
    assert TrainResult(iters=0, seconds=0.0).final is None


@pytest.mark.parametrize("n", [1, 40])
def test_sample_returns_the_start_token_plus_n_characters(n):
    session = _tiny_gpt_session()
    text = session.sample(n)
    assert isinstance(text, str)
    assert len(text) == n + 1  # the lecture decodes the zero start token too
    alphabet = set(session.dataset.tokenizer.chars)
    assert set(text) <= alphabet
    assert text[0] == session.dataset.tokenizer.chars[0]
    assert session.model.training  # back in training mode afterwards


def test_sample_on_synthetic_tokens_is_labelled():
    spec = load_model("bigram")
    session = TrainingSession(
        spec, resolve_config(spec, {}), build_dataset(TextSource(label="synthetic")), "cpu"
    )
    assert session.sample(5) == "<synthetic tokens: no text>"


# --- protocol train, progress and stops (issue 11) ---------------------------------------------


def test_protocol_train_never_evaluates_inside_the_timed_loop(monkeypatch):
    session = _tiny_gpt_session()
    calls: list[int] = []
    monkeypatch.setattr(session, "estimate_loss", lambda *a, **k: calls.append(1))
    result = train(session, 7, eval_interval=3, evaluate=False)
    assert calls == [] and result.evals == [] and result.final is None
    assert result.steps_done == 7
    assert result.recent_train_loss is not None and result.recent_train_loss > 0


def test_the_lecture_protocol_keeps_its_evaluations():
    result = train(_tiny_gpt_session(), 7, eval_interval=3)
    assert [p.step for p in result.evals] == [0, 3, 6]


def test_each_evaluation_reports_its_batches_for_a_progress_bar():
    session = _tiny_gpt_session()  # eval_iters 4: 8 batches per evaluation
    seen: list[tuple[int, int]] = []
    train(session, 2, eval_interval=10, on_eval_batch=lambda *batch: seen.append(batch))
    per_eval = [(k, 8) for k in range(1, 9)]
    assert seen == per_eval * 2  # step 0 and the last step


def test_a_stop_inside_the_loop_carries_the_partial_result():
    from gpubench.core.training import TrainingStopped
    from gpubench.interrupts import Terminated

    def stop_at_five(i: int) -> None:
        if i == 4:
            raise Terminated()

    with pytest.raises(TrainingStopped) as stopped:
        train(_tiny_gpt_session(), 50, eval_interval=3, on_step=stop_at_five)
    result = stopped.value.result
    assert isinstance(stopped.value.cause, Terminated)
    assert result.interrupted and result.steps_done == 5
    assert [p.step for p in result.evals] == [0, 3]
    assert result.recent_train_loss is not None and result.seconds >= 0


def test_eval_batch_pairs_match_estimate_loss_batches():
    session = _tiny_gpt_session()
    with session.evaluating():
        assert not session.model.training
        loss = session.eval_batch_loss("val")
    assert session.model.training and loss.ndim == 0 and not loss.requires_grad
