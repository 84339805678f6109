"""``gpubench train``: the lecture script as a command, with a progress bar and a sample."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gpubench.core.data import build_dataset, resolve_source
from gpubench.core.devices import resolve_devices
from gpubench.core.models import count_parameters, load_model, parse_overrides, resolve_config
from gpubench.core.training import (
    EvalPoint,
    TrainingSession,
    TrainingStopped,
    TrainResult,
    model_variant,
    train,
)
from gpubench.errors import GpubenchError, UsageError
from gpubench.interrupts import exit_code
from gpubench.options import parse_count
from gpubench.results.sweep_options import VARIANTS


def run_train_command(
    *, model: str, device: str, iters: str | None, batch_size: str | None,
    overrides: list[str], data: str | None, variant: str, generate: int,
    console: Console | None = None,
) -> None:  # fmt: skip
    """Train ``model`` on ``device`` and print loss lines and a text sample."""
    console = console or Console(highlight=False)
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    spec = load_model(model)
    settings = parse_overrides(overrides)
    if batch_size is not None:
        settings["batch_size"] = str(parse_count(batch_size, option="--batch-size"))
    config = resolve_config(spec, settings)
    steps = parse_count(iters, option="--iters") if iters is not None else config["max_iters"]
    if "," in device or device == "auto":
        raise UsageError(f"--device {device!r}: train uses one device, e.g. cpu or cuda:0")
    (device_name,) = resolve_devices(device)
    source, _ = resolve_source(data, allow_synthetic_fallback=False)
    dataset = build_dataset(source, min_length=config["block_size"] + 1)

    label = " (synthetic tokens: losses are not meaningful)" if source.synthetic else ""
    console.print(
        f"Training [bold]{spec.name}[/] ({variant}) on [bold]{device_name}[/] for {steps:,} steps, "
        f"batch {config['batch_size']}, block {config['block_size']}, data {source.label}{label}"
    )
    session = TrainingSession(
        spec, config, dataset, device_name,
        variant=model_variant(variant), compile_model=variant == "compile",
    )  # fmt: skip
    if variant == "compile":
        with console.status("compiling the model (torch.compile)"):
            session.compile()
    params = count_parameters(session.model)
    console.print(f"{params / 1e6:.6f} M parameters")
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("training", total=steps)
        eval_task = progress.add_task("evaluating", total=1, visible=False)

        def on_eval_batch(done: int, total: int) -> None:
            # the first evaluation of the GPT takes minutes: show it moving (2 x eval_iters)
            progress.update(
                eval_task, completed=done, total=total, visible=done < total,
                description=f"evaluating ({total // 2} batches per split)",
            )  # fmt: skip

        def on_eval(point: EvalPoint) -> None:
            progress.console.print(
                f"step {point.step}: train loss {point.train_loss:.4f}, "
                f"val loss {point.val_loss:.4f}"
            )

        stride = max(1, steps // 200)  # the bar needs no more; the loop stays lean

        def on_step(i: int) -> None:
            if (i + 1) % stride == 0 or i + 1 == steps:
                progress.update(task, completed=i + 1)

        try:
            result = train(
                session, steps, on_eval=on_eval, on_eval_batch=on_eval_batch, on_step=on_step
            )
        except TrainingStopped as stopped:
            progress.stop()
            raise TrainInterrupted(stopped.result, exit_code(stopped.cause)) from None
    console.print(
        f"trained in {result.seconds:.1f} s ({result.seconds / steps * 1e3:.2f} ms/step, "
        "evaluations included)"
    )
    if generate:
        console.rule("sample")
        console.print(session.sample(generate), markup=False, highlight=False)


class TrainInterrupted(GpubenchError):
    """Ctrl-C or SIGTERM during ``train``: the message has the last losses and the time."""

    def __init__(self, result: TrainResult, code: int):
        super().__init__(stopped_message(result))
        self.result = result
        self.exit_code = code


def stopped_message(result: TrainResult) -> str:
    """'stopped after 120 of 5,000 steps in 43.1 s; last evaluation (step 100): ...'."""
    parts = [
        f"stopped after {result.steps_done:,} of {result.iters:,} steps in {result.seconds:.1f} s"
    ]
    if result.final is not None:
        point = result.final
        parts.append(
            f"last evaluation (step {point.step}): train loss {point.train_loss:.4f}, "
            f"val loss {point.val_loss:.4f}"
        )
    if result.recent_train_loss is not None:
        parts.append(f"training loss of the last steps {result.recent_train_loss:.4f}")
    return "; ".join(parts)
