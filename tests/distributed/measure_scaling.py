"""Measure world sizes 1 and 2 on this CPU (gloo), weak and strong scaling; prints figures.

Run: /work/venv/bin/python -m tests.distributed.measure_scaling (about a minute on 2 cores).
Figures it printed are in docs/distributed.md ("Measured on this machine").
"""

from gpubench.bench.distributed import LaunchSpec, launch_cell
from gpubench.core.models import load_model, resolve_config
from gpubench.results.scaling import point_from_result, strong_scaling, weak_scaling

spec = load_model("gpt")


def job(batch, scaling):
    cfg = resolve_config(
        spec,
        {
            "n_layer": "2",
            "n_embd": "128",
            "n_head": "4",
            "block_size": "64",
            "batch_size": str(batch),
            "eval_iters": "20",
        },
    )
    return {
        "mode": "phases",
        "model": str(spec.path),
        "config": cfg,
        "device": "cpu",
        "variant": "reference",
        "budget_s": 10.0,
        "scaling": scaling,
        "threads": 1,
        "data": {
            "label": "tinyshakespeare",
            "synthetic": False,
            "path": "/work/shared/data/tinyshakespeare/input.txt",
        },
    }


points = {"weak": [], "strong": []}
for mode in ("weak", "strong"):
    for world in (1, 2):
        out = launch_cell(job(16, mode), LaunchSpec(world), timeout_s=300)
        r = out.payload
        d, a, s = r["distributed"], r["allreduce"], r["phases"]["step"]
        print(
            f"{mode} ws={world} batch/rank={d['batch_per_rank']} "
            f"threads/rank={d['threads_per_rank']} "
            f"step={s['median_s'] * 1e3:.1f} ms "
            f"[q1 {s['q1_s'] * 1e3:.1f}, q3 {s['q3_s'] * 1e3:.1f}] "
            f"no_sync={a['no_sync_step_s'] * 1e3:.1f} ms allreduce share={a['share']:.1%} "
            f"[q1 {a['share_q1']:.1%}, q3 {a['share_q3']:.1%}] "
            f"pg_init={d['process_group_init_s'] * 1e3:.0f} ms "
            f"tok/s={r['throughput']['tokens_per_s']:.0f}"
        )
        points[mode].append(point_from_result(r, 64))
for mode, fn in (("weak", weak_scaling), ("strong", strong_scaling)):
    for series in fn(points[mode]):
        for row in series.rows:
            print(
                f"{mode} ws={row.world_size} tok/s/device={row.tokens_per_s_per_device:.0f} "
                f"speedup={row.speedup:.2f} efficiency={row.efficiency:.2f} "
                f"[{row.efficiency_low:.2f}, {row.efficiency_high:.2f}]"
            )
