"""The command line: parse options, call the library, render, map errors to exit codes.

Heavy imports (torch, pandas, the engine) happen inside the commands so that
``gpubench --help`` answers at once.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from gpubench import __version__
from gpubench.errors import GpubenchError, UsageError
from gpubench.options import DEFAULT_BUDGET_S, DEFAULT_ITERS, DEFAULT_MODELS
from gpubench.results.sweep_options import PROTOCOLS, VARIANTS

app = typer.Typer(
    name="gpubench",
    help="Is your PyTorch/CUDA setup right, and is your GPU worth it?",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, pwsh
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_USAGE = 2

# Choices as enums, so that --help lists them and shells complete them.
Protocol = Enum("Protocol", {name: name for name in PROTOCOLS}, type=str)  # type: ignore[misc]
Variant = Enum("Variant", {name: name for name in VARIANTS}, type=str)  # type: ignore[misc]


class ReportFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


VARIANT_LIST = "|".join(VARIANTS)


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
        typer.Option(
            "--version",
            metavar="",
            callback=_show_version,
            is_eager=True,
            help="Print the version.",
        ),
    ] = False,
) -> None:
    """Diagnose a PyTorch/CUDA setup and measure where the GPU starts to beat the CPU."""


@app.command()
def doctor(
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="Print facts, findings and verdict as JSON.")
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", metavar="", help="Print a redacted report safe to paste in an issue."
        ),
    ] = False,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain", metavar="FILE|-", help="Explain an error log (a file, or - for stdin)."
        ),
    ] = None,
    full_report: Annotated[
        bool,
        typer.Option(
            "--report", metavar="", help="With --explain: this machine's full report after it."
        ),
    ] = False,
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            metavar="PATH",
            help="Diagnose another interpreter (a venv, a notebook kernel's python).",
        ),
    ] = None,
    require_cuda: Annotated[
        bool, typer.Option("--require-cuda", metavar="", help="Exit 1 unless CUDA is usable.")
    ] = False,
    no_smoke: Annotated[
        bool, typer.Option("--no-smoke", metavar="", help="Skip the smoke test on each device.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, metavar="S", help="Seconds allowed for each probe."),
    ] = 20.0,
) -> None:
    """Diagnose the PyTorch/CUDA setup and give a fix command for every problem."""
    if json_output and markdown:
        fail(UsageError("--json and --markdown cannot be combined; choose one"))
    from gpubench.commands.doctor import run_doctor_command

    output = "json" if json_output else "markdown" if markdown else "human"
    try:
        code = run_doctor_command(
            output=output,
            explain=explain,
            require_cuda=require_cuda,
            smoke=not no_smoke,
            timeout=timeout,
            python=python,
            full_report=full_report,
        )
    except GpubenchError as error:
        fail(error)
    raise typer.Exit(code)


@app.command("models")
def list_models(
    json_output: Annotated[bool, typer.Option("--json", metavar="", help="Print as JSON.")] = False,
) -> None:
    """List the reference models with their exact parameter counts and defaults."""
    from gpubench.commands.models import describe_models, render_models

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
    device: Annotated[
        str, typer.Option("--device", metavar="DEVICE", help="cpu, cuda, cuda:N or mps.")
    ] = "cpu",
    iters: Annotated[
        str | None,
        typer.Option(
            "--iters", metavar="N", help="Training steps (default: the model's max_iters)."
        ),
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option("--batch-size", metavar="B", help="Batch size (default: the model's)."),
    ] = None,
    overrides: SetOption = None,
    data: DataOption = None,
    variant: Annotated[
        Variant,
        typer.Option("--variant", help="compile is fast + torch.compile."),
    ] = Variant.reference,  # type: ignore[attr-defined]
    generate: Annotated[
        int,
        typer.Option("--generate", min=0, metavar="N", help="Characters to sample after training."),
    ] = 300,
) -> None:
    """Train one model on one device, the lecture script as a command."""
    from gpubench.commands.train import TrainInterrupted, run_train_command
    from gpubench.interrupts import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            run_train_command(
                model=model,
                device=device,
                iters=iters,
                batch_size=batch_size,
                overrides=overrides or [],
                data=data,
                variant=variant.value,
                generate=generate,
            )
    except TrainInterrupted as error:
        stderr.print(f"[bold yellow]{error}[/]")
        raise typer.Exit(error.exit_code) from None
    except GpubenchError as error:
        fail(error)


RESUME_KEEPS = ("resume", "json_output")  # options that may go with --resume


@app.command()
def run(
    ctx: typer.Context,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            metavar="NAMES|PATH",
            help="Comma list of bigram, bigram-pos, gpt, or model files (they are executed).",
        ),
    ] = DEFAULT_MODELS,
    devices: Annotated[
        str,
        typer.Option(
            "--devices", metavar="LIST", help="auto (cpu + every GPU), or e.g. cpu,cuda:0."
        ),
    ] = "auto",
    iters: Annotated[
        str, typer.Option("--iters", metavar="LIST", help="Iteration counts, e.g. 500,5k,50k.")
    ] = DEFAULT_ITERS,
    batch_sizes: Annotated[
        str | None,
        typer.Option(
            "--batch-sizes", metavar="LIST", help="Batch sizes, e.g. 32,64 (default: each model's)."
        ),
    ] = None,
    protocol: Annotated[
        Protocol,
        typer.Option(
            "--protocol", help="lecture (evaluations in the loop, the headline) or train (none)."
        ),
    ] = Protocol.lecture,  # type: ignore[attr-defined]
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            metavar=VARIANT_LIST,
            help="A variant, or a comma list to compare; compile is fast + torch.compile.",
        ),
    ] = "reference",
    budget: Annotated[
        float,
        typer.Option(
            "--budget",
            metavar="SECONDS",
            help="Seconds of measuring; longer runs are extrapolated.",
        ),
    ] = DEFAULT_BUDGET_S,
    full: Annotated[
        bool,
        typer.Option("--full", metavar="", help="Run every iteration count for real (no budget)."),
    ] = False,
    threads: Annotated[
        str | None,
        typer.Option(
            "--threads", metavar="N", help="CPU threads (default: physical cores); a list compares."
        ),
    ] = None,
    nproc: Annotated[
        str,
        typer.Option(
            "--nproc",
            metavar="LIST",
            help="Ranks per node, e.g. 1,2,4: above 1, DDP cells through torchrun (strong and "
            "weak scaling).",
        ),
    ] = "1",
    nnodes: Annotated[
        int,
        typer.Option("--nnodes", metavar="N", help="Machines running the same cells (torchrun)."),
    ] = 1,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rdzv-endpoint",
            metavar="HOST:PORT",
            help="With --nnodes: the c10d rendezvous, one node's address.",
        ),
    ] = None,
    node_rank: Annotated[
        int | None,
        typer.Option("--node-rank", metavar="R", help="With --nnodes: this machine's rank."),
    ] = None,
    overrides: SetOption = None,
    data: DataOption = None,
    generate: Annotated[
        int,
        typer.Option(
            "--generate", min=0, metavar="N", help="Also time generate() for N tokens per cell."
        ),
    ] = 0,
    retune: Annotated[
        bool,
        typer.Option(
            "--retune",
            metavar="",
            help="Measure the fast variant's choices again instead of reading them from the cache.",
        ),
    ] = False,
    out: Annotated[
        str, typer.Option("--out", metavar="DIR", help="Folder for run folders.")
    ] = "reports",
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Run folder name (default: time-host)."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", metavar="RUN_DIR", help="Continue an interrupted run."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="Print the results path and summary as JSON.")
    ] = False,
) -> None:
    """Train the reference models on every device and show where the GPU beats the CPU."""
    from gpubench.bench.engine import SweepInterrupted
    from gpubench.commands.run import run_sweep_command
    from gpubench.options import parse_sweep_options

    if resume:
        given = [
            "--set" if name == "overrides" else "--" + name.replace("_", "-")
            for name in ctx.params
            if name not in RESUME_KEEPS
            and getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
        ]
        if given:
            fail(
                UsageError(
                    f"--resume continues the sweep as it was planned; drop {', '.join(given)}"
                )
            )

    from gpubench.interrupts import sigterm_as_interrupt

    try:
        options = parse_sweep_options(
            models=models, devices=devices, iters=iters, batch_sizes=batch_sizes,
            protocol=protocol.value, variants=variant, budget_s=budget, full=full,
            threads=threads, overrides=overrides, generate=generate, retune=retune,
            nproc=nproc, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint, node_rank=node_rank,
        )  # fmt: skip
        with sigterm_as_interrupt():  # SIGTERM saves like Ctrl-C, and exits 143
            code = run_sweep_command(
                options=options, data=data, out=out, name=name, resume=resume,
                json_output=json_output, argv=sys.argv[1:],
            )  # fmt: skip
    except SweepInterrupted as error:
        stderr.print(f"[bold yellow]{error}[/]")
        raise typer.Exit(error.exit_code) from None
    except GpubenchError as error:
        fail(error)
    raise typer.Exit(code)


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(metavar="RUN_DIR", help="A run folder.")],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="How to print the run.")
    ] = ReportFormat.table,
) -> None:
    """Re-render a run from its results.json (also one copied from another machine)."""
    from gpubench.commands.report import run_report_command

    try:
        run_report_command(run_dir, fmt.value)
    except GpubenchError as error:
        fail(error)


@app.command()
def compare(
    run_dirs: Annotated[
        list[str], typer.Argument(metavar="RUN_DIR RUN_DIR...", help="Two or more run folders.")
    ],
) -> None:
    """Line up runs from different machines cell by cell."""
    from gpubench.commands.report import run_compare_command

    if len(run_dirs) < 2:
        fail(UsageError("compare needs at least two run folders"))
    try:
        run_compare_command(run_dirs)
    except GpubenchError as error:
        fail(error)


@app.command()
def predict(
    run_dir: Annotated[str, typer.Argument(metavar="RUN_DIR", help="A CPU run folder.")],
    gpu: Annotated[
        str,
        typer.Option(
            "--gpu", metavar="LIST", help="GPUs from gpubench gpus, e.g. a800-80gb-pcie,t4, or all."
        ),
    ] = "a800-80gb-pcie,t4,h100-sxm5",
    profile_now: Annotated[
        bool,
        typer.Option(
            "--profile-now", metavar="", help="Profile the run's cells on this CPU if it has none."
        ),
    ] = False,
    data: DataOption = None,
    json_output: Annotated[bool, typer.Option("--json", metavar="", help="Print as JSON.")] = False,
) -> None:
    """Predict each CPU cell of a run on named GPUs with the op model (all figures predicted)."""
    from gpubench.commands.predict import run_predict_command

    try:
        code = run_predict_command(
            run_dir, gpu, profile_now=profile_now, data=data, json_output=json_output
        )
    except GpubenchError as error:
        fail(error)
    raise typer.Exit(code)


@app.command("gpus")
def list_gpus(
    json_output: Annotated[bool, typer.Option("--json", metavar="", help="Print as JSON.")] = False,
) -> None:
    """List the GPUs gpubench predict knows: peak FLOP/s, bandwidth, host link, sources."""
    from gpubench.commands.gpus import render_gpus

    render_gpus(json_output=json_output)


def main() -> None:
    """Console-script entry point: usage errors are one line, Ctrl-C exits 130."""
    if len(sys.argv) == 1:
        sys.argv.append("--help")
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exit_:
        code = exit_.exit_code
    except (KeyboardInterrupt, typer.Abort) as stop:
        from gpubench.interrupts import exit_code

        stderr.print("interrupted")
        sys.exit(exit_code(stop))
    except Exception as error:
        if not _is_usage_error(error):
            raise
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "gpubench"
        stderr.print(f"[bold red]error:[/] {error.format_message()} (see {command} --help)")  # type: ignore[attr-defined]
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(error: Exception) -> bool:
    """Typer's (click's) parse errors carry exit code 2; they get one line, not a panel."""
    return getattr(error, "exit_code", None) == EXIT_USAGE and hasattr(error, "format_message")
