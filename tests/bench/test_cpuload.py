"""Other processes' CPU use per cell: sampled with a fake source, judged, and advised on."""

from __future__ import annotations

from gpubench.bench.cpuload import CpuLoadSampler
from gpubench.results.cpuload import CpuLoad, busy_machine_lines, rerun_command


class FakeSource:
    """Machine busy time grows by ``machine`` cores per second, ours by ``own``."""

    def __init__(self, clock: list[float]):
        self.clock = clock
        self.machine = 0.0
        self.own = 0.0
        self.busy_s = 0.0
        self.own_s = 0.0
        self.last = clock[0]

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds
        self.busy_s += self.machine * seconds
        self.own_s += self.own * seconds

    def busy_seconds(self) -> float:
        return self.busy_s

    def own_seconds(self) -> float:
        return self.own_s


def make_sampler() -> tuple[CpuLoadSampler, FakeSource, list[float]]:
    clock = [100.0]
    source = FakeSource(clock)
    sampler = CpuLoadSampler(source=source, clock=lambda: clock[0], cores=2)
    return sampler, source, clock


def test_own_work_is_not_counted_as_other_processes():
    sampler, source, clock = make_sampler()
    source.machine, source.own = 2.0, 2.0  # the cell itself keeps both cores busy
    start = clock[0]
    for _ in range(4):
        source.advance(0.5)
        sampler.sample()
    load = sampler.load_between(start, clock[0], threads=2)
    assert load.others_during_cores == 0.0
    assert load.samples == 4
    assert not load.contended


def test_two_other_cpu_bound_processes_mark_a_two_thread_cell():
    sampler, source, clock = make_sampler()
    source.machine, source.own = 2.0, 0.0  # before the cell: two hogs
    source.advance(1.0)
    sampler.sample()
    start = clock[0]
    source.machine, source.own = 2.0, 1.0  # during: the hogs take half of what the cell wanted
    for _ in range(3):
        source.advance(0.5)
        sampler.sample()
    load = sampler.load_between(start, clock[0], threads=2)
    assert load.others_before_cores == 2.0
    assert load.others_during_cores == 1.0
    assert load.contended
    assert load.suggested_threads == 1


def test_one_thread_cell_beside_one_busy_core_is_not_contended():
    load = CpuLoad(cores=2, threads=1, others_before_cores=1.0, others_during_cores=1.0, samples=5)
    assert not load.contended


def test_background_noise_below_the_tolerance_is_not_contention():
    load = CpuLoad(cores=2, threads=2, others_before_cores=0.1, others_during_cores=0.2, samples=5)
    assert not load.contended


def test_rerun_command_sets_or_replaces_threads():
    base = ["gpubench", "run", "--models", "bigram"]
    assert rerun_command(base, 1) == "gpubench run --models bigram --threads 1"
    assert rerun_command([*base, "--threads", "2"], 1).endswith("--threads 1")
    assert rerun_command([*base, "--threads=2"], 1).endswith("--threads=1")


def test_busy_lines_name_the_cells_and_the_exact_rerun_command():
    busy = CpuLoad(cores=2, threads=2, others_before_cores=1.8, others_during_cores=1.0, samples=9)
    idle = CpuLoad(cores=2, threads=2, others_before_cores=0.0, others_during_cores=0.0, samples=9)
    command = ["gpubench", "run", "--models", "bigram"]
    lines = busy_machine_lines({"bigram/cpu/b32/reference/t2": busy, "gpt/cpu": idle}, command)
    assert "bigram/cpu/b32/reference/t2" in lines[0] and "gpt/cpu" not in lines[0]
    assert "1.0 of 2 cores" in lines[0]
    assert "`gpubench run --models bigram --threads 1`" in lines[1]
    assert busy_machine_lines({"gpt/cpu": idle}, command) == []


def test_fully_taken_machine_advises_an_idle_rerun_not_zero_threads():
    load = CpuLoad(cores=2, threads=1, others_before_cores=2.0, others_during_cores=2.0, samples=9)
    lines = busy_machine_lines({"gpt/cpu/b64/reference/t1": load}, ["gpubench", "run"])
    assert load.contended
    assert "idle" in lines[1] and "--threads" not in lines[1]
