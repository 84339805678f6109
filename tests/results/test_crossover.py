"""Crossover kinds on the exact T(n): from-first, at n, until n, never; the CPU baseline."""

import pytest

import gpubench.results.costmodel as costmodel
from gpubench.report.queries import baseline_cell
from gpubench.report.sentences import summary_sentences
from gpubench.results.cost_terms import CostModel
from gpubench.results.costmodel import derive_results, find_crossover
from gpubench.results.model import CellKey, CellResult, Phases, RunResults, StepStats
from gpubench.results.profile import MachineParams, OpProfile, OpRecord


def phases(step_s: float, fixed_s: float, eval_s: float = 0.0) -> Phases:
    blocks = [step_s * 10 * f for f in (1.0, 1.01, 0.99, 1.0)]
    return Phases(fixed_s, 0.0, 0.0, 0.0, [step_s], StepStats(step_s, step_s, step_s, 40, 10, 2,
                  blocks), eval_s, 200, 200)  # fmt: skip


def cell(device: str, step_s: float, fixed_s: float, threads=None, eval_s=0.0) -> CellResult:
    config = {"eval_interval": 100, "batch_size": 32, "block_size": 8, "eval_iters": 200}
    key = CellKey("bigram", device, 32, "reference", threads)
    return CellResult(key, config, "ok", phases=phases(step_s, fixed_s, eval_s))


def run_of(*cells: CellResult, protocol: str = "train") -> RunResults:
    results = RunResults("r", "2026-01-01T00:00:00Z", ["gpubench"],
                         {"protocol": protocol, "iters": [100, 10_000]}, {},
                         cells=list(cells))  # fmt: skip
    derive_results(results)
    return results


def crossover(results: RunResults, protocol: str = "train"):
    return next(c for c in results.crossovers if c.protocol == protocol)


def test_cheaper_up_front_and_dearer_per_step_wins_until_n():
    # the GPU starts 2 s ahead but loses 1 ms per step: it is cheaper up to ~2,000 steps
    results = run_of(cell("cpu", 0.001, 5.0, threads=2), cell("cuda:0", 0.002, 3.0))
    found = crossover(results)
    assert found.kind == "until"  # the old code said "never"
    n = int(found.iters)
    cpu, gpu = (c.cost for c in results.cells)
    assert gpu.predict(n, "train") < cpu.predict(n, "train")
    assert gpu.predict(n + 1, "train") >= cpu.predict(n + 1, "train")
    assert "catches up after" in found.reason and "ms" in found.reason
    sentence = summary_sentences(results)[0]
    assert f"wins until {n:,} iterations" in sentence


def test_an_eval_heavy_case_crosses_where_the_totals_do_not_where_the_line_does():
    cpu = CostModel(0.0, 1.0, 1.0, 1.0, 10.0, 100)  # cheap steps, a costly evaluation
    gpu = CostModel(16.434, 0.5, 0.5, 0.5, 1.0, 100)
    line = (gpu.constant_s("lecture") - cpu.constant_s("lecture")) / (
        cpu.per_step_s("lecture") - gpu.per_step_s("lecture")
    )
    assert line == pytest.approx(12.6, abs=0.05)  # the old straight-line answer
    kind, iters, _, _ = find_crossover(cpu, gpu, "lecture")
    assert (kind, iters) == ("at", 2)
    assert gpu.predict(1) >= cpu.predict(1)
    assert all(gpu.predict(n) < cpu.predict(n) for n in range(2, 5000))


def test_from_first_and_never_on_the_exact_totals():
    cpu = CostModel(2.0, 0.002, 0.002, 0.002, 0.5, 300)
    assert find_crossover(cpu, CostModel(1.0, 0.001, 0.001, 0.001, 0.1, 300), "lecture")[0] == (
        "from-first"
    )
    kind, iters, ratio, _ = find_crossover(cpu, CostModel(3.0, 0.003, 0, 0, 0.9, 300), "lecture")
    assert (kind, iters) == ("never", None) and ratio < 1


def test_a_far_crossing_beyond_the_scan_uses_the_line():
    cpu = CostModel(0.0, 1.0, 1.0, 1.0, 0.0, 10)
    gpu = CostModel(1e6, 1.0 - 1e-6, 0, 0, 0.0, 10)
    kind, iters, _, _ = find_crossover(cpu, gpu, "train")
    assert kind == "at" and iters == pytest.approx(1e12, rel=1e-3)


def test_with_threads_1_and_2_the_baseline_is_the_fastest_cpu_cell():
    slow = cell("cpu", 0.004, 2.0, threads=1)  # listed first, as --threads 1,2 runs it
    fast = cell("cpu", 0.002, 2.0, threads=2)
    gpu = cell("cuda:0", 0.001, 4.0)
    results = run_of(slow, fast, gpu)
    found = crossover(results)
    assert found.baseline == "cpu (2 threads)"  # the old code: "cpu", the 1-thread cell
    assert found.baseline_cell == fast.key.id
    # against the 2-thread cell the GPU needs 2 s / 1 ms = 2,000 steps (1 thread: ~667)
    assert found.kind == "at" and found.iters == pytest.approx(2001, abs=2)
    assert baseline_cell(results, fast.key.group, "train") is fast


def test_the_report_takes_the_baseline_the_results_stored_with_the_crossovers():
    slow = cell("cpu", 0.004, 2.0, threads=1)
    fast = cell("cpu", 0.002, 2.0, threads=2)
    results = run_of(slow, fast, cell("cuda:0", 0.001, 4.0))
    for stored in results.crossovers:
        stored.baseline_cell = slow.key.id  # as an older rule chose it
    assert baseline_cell(results, slow.key.group, "train") is slow
    results.crossovers = []  # none stored: the results' own rule
    assert baseline_cell(results, slow.key.group, "train") is fast


def test_the_reason_uses_the_measured_regime_where_a_profile_was_recorded():
    params = MachineParams("cuda:0", 10e12, 500e9, 20e-6, launch_s=5e-6)
    ops = [OpRecord("add", "elementwise", "forward", 400, bytes=1000, host_us=8000)]
    gpu = cell("cuda:0", 0.002, 1.0)
    gpu.profile = OpProfile("cuda:0", 3, 0.002, ops=ops, params=params).to_dict()
    results = run_of(cell("cpu", 0.001, 2.0, threads=2), gpu)
    reason = crossover(results).reason
    assert "overhead-bound" in reason and "ops per step" in reason
    assert not hasattr(costmodel, "LAUNCH_BOUND_TOKENS")  # no cutoff constant is left


def test_a_crossover_without_profiles_states_measured_figures():
    results = run_of(cell("cpu", 0.001, 2.0, threads=2), cell("cuda:0", 0.003, 4.0))
    found = crossover(results)
    assert found.kind == "never"
    assert "3× slower" in found.reason and "at 256 tokens per step" in found.reason
    assert "launch-bound" not in found.reason  # no guess from a token cutoff


def test_a_crossover_reads_the_cells_without_setting_their_cost_terms():
    base, gpu = cell("cpu", 0.002, 2.0, threads=2), cell("cuda:0", 0.001, 4.0)
    found = costmodel.crossover_for(base, gpu, "train")
    assert found.kind == "at" and "per step" in found.reason
    assert base.cost is None and gpu.cost is None  # fitted for the record, never stored
