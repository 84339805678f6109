"""Benchmark 2: gpubench's reference GPT step against the lecture's own script.

Arm "lecture script": lecture_script.py, the lecture's classes and loop body with nothing of
gpubench. Arm "gpubench reference": ``TrainingSession.step()`` on models/gpt.py. Same config,
seed, threads and tokens; separate models. Target: <= 1.05 (the harness and the model file
add nothing to what is measured).
"""

from __future__ import annotations

from context import BenchContext
from harness import Comparison, interleave, steps_per_block, time_block
from lecture_script import Hyperparameters, LectureTraining


def run(ctx: BenchContext) -> Comparison:
    session = ctx.session("reference")
    config = ctx.config
    lecture = LectureTraining(
        Hyperparameters(
            batch_size=config["batch_size"],
            block_size=config["block_size"],
            learning_rate=config["learning_rate"],
            n_embd=config["n_embd"],
            n_head=config["n_head"],
            n_layer=config["n_layer"],
            dropout=config["dropout"],
            vocab_size=ctx.dataset.vocab_size,
        ),
        ctx.dataset.train,
    )
    steps = steps_per_block(session.step, session.sync)
    times = interleave(
        {
            "lecture script": lambda: time_block(lecture.step, steps, session.sync),
            "gpubench reference": lambda: time_block(session.step, steps, session.sync),
        },
        ctx.repeats,
    )
    return Comparison(
        title="[2] gpubench reference GPT step vs the lecture script's step",
        setup=ctx.label,
        baseline="lecture script",
        arms=times,
        steps_per_block=steps,
        ratio_label="gpubench / lecture",
        target=("<=", 1.05),
    )
