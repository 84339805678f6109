"""The Scaling section from stored DDP cells: strong and weak tables apart, throughput per
device, efficiency with its spread, the all-reduce share, the world-size crossover sentence;
DDP cells kept out of the device tables and the CPU-vs-GPU crossovers."""

from __future__ import annotations

from gpubench.bench import distributed as distributed_module
from gpubench.report.render import render_markdown
from gpubench.results.costmodel import CostModel, derive_results
from tests.bench.test_engine_budget import FakeWorkers, make_engine
from tests.bench.test_engine_ranks import FakeLauncher
from tests.report.conftest import parse_markdown_tables

HEADERS = [
    "ranks", "batch per rank × ranks", "tokens/s", "tokens/s per device", "speedup",
    "efficiency (spread)", "all-reduce share (q1–q3)", "process group + DDP wrap",
]  # fmt: skip


def measured_run(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed_module, "launch_cell", FakeLauncher())
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), models="bigram", threads="2",
                         nproc="1,2", iters="100,1000")  # fmt: skip
    return engine.run()


def test_strong_and_weak_tables_with_efficiency_spread_share_and_crossover(
    tmp_path, monkeypatch
) -> None:
    markdown = render_markdown(measured_run(tmp_path, monkeypatch))
    section = markdown.split("## Scaling over ranks", 1)[1].split("\n## ", 1)[0]
    assert "Strong scaling (global batch fixed" in section
    assert "Weak scaling (batch per rank fixed" in section
    tables = [rows for headers, rows in parse_markdown_tables(section) if headers == HEADERS]
    assert len(tables) == 2
    strong, weak = tables
    # the baseline (world size 1) leads each table; world size 2 has the DDP figures
    assert [row[0] for row in strong] == ["1", "2"] and [row[0] for row in weak] == ["1", "2"]
    assert strong[1][1] == "16 × 2 = 32" and weak[1][1] == "32 × 2 = 64"
    assert strong[1][6] == "12.0 % (8.0–20.0)"  # the measured all-reduce share
    assert strong[1][7] == "500 ms + 250 ms"  # process-group init + DDP wrap
    low_high = strong[1][5].split("(")[1].rstrip(")").split("–")
    assert float(low_high[0]) <= float(strong[1][5].split()[0]) <= float(low_high[1])
    assert section.count("Crossover (cost models, extrapolated): 2 ranks") == 2


def test_ddp_cells_stay_out_of_device_tables_and_crossovers(tmp_path, monkeypatch) -> None:
    results = measured_run(tmp_path, monkeypatch)
    derive_results(results)
    assert all(c.device != "cpu" for c in results.crossovers)
    markdown = render_markdown(results)
    assert "cpu ×2 (weak) = CPU (1 threads per rank)" in markdown  # the devices line
    time_tables = markdown.split("## Time to train", 1)[1].split("## Scaling over ranks", 1)[0]
    assert "×2" not in time_tables  # no "cpu ×2" column beside the CPU in the time tables
    throughput = next(rows for headers, rows in parse_markdown_tables(markdown) if "MFU" in headers)
    assert {row[0] for row in throughput} == {
        "bigram, batch 32 · cpu", "bigram, batch 32 · cpu ×2 (strong)",
        "bigram, batch 32 · cpu ×2 (weak)",
    }  # fmt: skip


def test_a_run_without_ranks_has_no_scaling_section(tmp_path, monkeypatch) -> None:
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), models="bigram", iters="100")
    assert "Scaling over ranks" not in render_markdown(engine.run())


# Weak scaling whose old report read "2 ranks beat 1 rank from 3,502 iterations of batch 32"
# beside efficiency 0.49 and speedup 0.99×: the crossover credited 2 ranks with evaluating
# half as often per sample, on mean steps, while the table reads median steps.
CONTRADICTED = {
    1: ((0.0497, 0.0490, 0.0501), CostModel(1.20, 0.0503, 0.0490, 0.0501, 0.30, 100)),
    2: ((0.1006, 0.0975, 0.1040), CostModel(4.45, 0.1016, 0.0975, 0.1040, 0.31, 100)),
}


def test_the_weak_crossover_sentence_agrees_with_its_table_and_says_what_it_compares(
    tmp_path, monkeypatch
) -> None:
    results = measured_run(tmp_path, monkeypatch)
    for cell in results.cells:
        if cell.key.scaling == "strong":
            continue
        (median, q1, q3), cost = CONTRADICTED[cell.key.world_size]
        assert cell.phases is not None
        cell.phases.step.median_s, cell.phases.step.q1_s, cell.phases.step.q3_s = median, q1, q3
        cell.cost = cost
    markdown = render_markdown(results)
    section = markdown.split("## Scaling over ranks", 1)[1].split("\n## ", 1)[0]
    weak_part = section.split("Weak scaling (batch per rank fixed", 1)[1]
    (_, weak), *_ = [t for t in parse_markdown_tables(weak_part) if t[0] == HEADERS]
    assert weak[1][4] == "0.99×" and weak[1][5].startswith("0.49 ")  # median steps
    assert "3,502" not in section
    assert (
        "Crossover (cost models, extrapolated): 2 ranks never beat 1 rank: they take 53.9 ms vs "
        "53.3 ms per iteration of batch 32, 1.01× slower (the same samples trained, mean steps, "
        "evaluations included at the same samples)."
    ) in weak_part
    assert "mean steps" in section.split("**", 1)[0]  # the section's intro says so too
