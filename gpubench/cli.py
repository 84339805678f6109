"""The command line: parse options, call the library, render, map errors to exit codes.

Heavy imports (torch, pandas, the engine) happen inside the commands so that
``gpubench --help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from gpubench import __version__
from gpubench.errors import GpubenchError, UsageError

app = typer.Typer(
    name="gpubench",
    help="Is your PyTorch/CUDA setup right, and is your GPU worth it?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
stderr = Console(stderr=True, highlight=False)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def fail(error: Exception) -> NoReturn:
    """Print one line for a library error and exit with its code."""
    code = EXIT_USAGE if isinstance(error, UsageError) else 1
    label = "error" if code == EXIT_USAGE else "gpubench"
    stderr.print(f"[bold red]{label}:[/] {error}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"gpubench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Diagnose a PyTorch/CUDA setup and measure where the GPU starts to beat the CPU."""


@app.command()
def doctor(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print facts, findings and verdict as JSON.")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a redacted report safe to paste in an issue.")
    ] = False,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain", metavar="FILE|-", help="Explain an error log (a file, or - for stdin)."
        ),
    ] = None,
    require_cuda: Annotated[
        bool, typer.Option("--require-cuda", help="Exit 1 unless CUDA is usable.")
    ] = False,
    no_smoke: Annotated[
        bool, typer.Option("--no-smoke", help="Skip the smoke test on each device.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds allowed for each probe.")
    ] = 20.0,
) -> None:
    """Diagnose the PyTorch/CUDA setup and give a fix command for every problem."""
    if json_output and markdown:
        fail(UsageError("--json and --markdown cannot be combined; choose one"))
    from gpubench.doctor.command import run_doctor_command

    output = "json" if json_output else "markdown" if markdown else "human"
    try:
        code = run_doctor_command(
            output=output,
            explain=explain,
            require_cuda=require_cuda,
            smoke=not no_smoke,
            timeout=timeout,
        )
    except GpubenchError as error:
        fail(error)
    raise typer.Exit(code)


@app.command("models")
def list_models(
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the reference models with their exact parameter counts and defaults."""
    from gpubench.report.models_table import describe_models, render_models

    try:
        rows = describe_models()
    except GpubenchError as error:
        fail(error)
    render_models(rows, json_output=json_output)


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a model setting, e.g. --set n_layer=2."
    ),
]
DataOption = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="PATH|synthetic",
        help="A UTF-8 text file, or 'synthetic'. Default: the tiny shakespeare corpus "
        "(downloaded once and cached) or $GPUBENCH_DATA.",
    ),
]


@app.command()
def train(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            metavar="NAME|PATH",
            help="bigram, bigram-pos, gpt, or a model file (it is executed).",
        ),
    ] = "bigram",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or mps.")] = "cpu",
    iters: Annotated[
        str | None, typer.Option("--iters", help="Training steps (default: the model's max_iters).")
    ] = None,
    batch_size: Annotated[
        str | None, typer.Option("--batch-size", help="Batch size (default: the model's).")
    ] = None,
    overrides: SetOption = None,
    data: DataOption = None,
    variant: Annotated[str, typer.Option("--variant", help="reference or fast.")] = "reference",
    generate: Annotated[
        int, typer.Option("--generate", min=0, help="Characters to sample after training.")
    ] = 300,
) -> None:
    """Train one model on one device, the lecture script as a command."""
    from gpubench.train_command import run_train_command

    try:
        run_train_command(
            model=model,
            device=device,
            iters=iters,
            batch_size=batch_size,
            overrides=overrides or [],
            data=data,
            variant=variant,
            generate=generate,
        )
    except GpubenchError as error:
        fail(error)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


__all__ = ["app", "main", "Path"]
