"""Benchmark 1: what gpubench's timing adds to a training step.

Arm "worker-timed": ``TrainingSession.step()`` in blocks with one sync before and after each
block, as gpubench's worker times its steady state. Arm "plain loop": the same model,
optimizer and batches, the step's four lines written inline, one clock around the loop.
Both arms share one session, so the only difference is the harness. Target: <= 1.02.
"""

from __future__ import annotations

from context import BenchContext
from harness import Clock, Comparison, interleave, steps_per_block, time_block

from gpubench.core.data import get_batch


def run(ctx: BenchContext) -> Comparison:
    session = ctx.session("reference")
    data, batch, block = ctx.dataset.train, session.batch_size, session.block_size
    model, optimizer, device = session.model, session.optimizer, session.device

    def plain_step() -> None:
        xb, yb = get_batch(data, batch, block, device)
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    steps = steps_per_block(session.step, session.sync)

    def plain_loop() -> float:
        start = Clock()
        for _ in range(steps):
            plain_step()
        session.sync()  # a no-op on CPU; on CUDA the loop's work must be finished to be timed
        return (Clock() - start) / steps

    times = interleave(
        {
            "plain loop": plain_loop,
            "worker-timed step()": lambda: time_block(session.step, steps, session.sync),
        },
        ctx.repeats,
    )
    return Comparison(
        title="[1] harness overhead: worker-timed TrainingSession.step() vs the same step inline",
        setup=ctx.label,
        baseline="plain loop",
        arms=times,
        steps_per_block=steps,
        ratio_label="worker-timed / plain",
        target=("<=", 1.02),
    )
