"""Throughput of the batched simulator: env-steps/s and node-steps/s on one core.

    python -m experiments.bench_env env=network num_envs=1024             # mode=single
    python -m experiments.bench_env mode=sweep env=network                # the curves
    python -m experiments.bench_env mode=dynaplex                         # side by side

``single`` times random-policy steps (uniform actions in the env's action space, drawn
before the clock starts) of ``InventoryNetworkVecEnv`` — observation building, noise,
transition and autoreset included — then the same number of env-steps of a Python loop
over ``InventoryNetworkEnv`` single envs, and reports both and their ratio. It also
reports the bytes held by the state of ``num_envs`` envs, the growth of the process's
resident memory over ``memory_env_steps`` env-steps and its peak resident memory.

``sweep`` prints the curve over ``sweep.num_envs`` (on ``env``) and over network size
(``hub_and_spoke`` with ``sweep.sizes`` [regions, stores_per_region] at
``sweep.size_num_envs`` envs), one line per point.

``dynaplex`` times ``lost_sales`` and DynaPlex's lost-sales ``VectorEnv`` (the same model,
run by ``benchmarks/dynaplex_lost_sales.py`` in the interpreter ``dynaplex_python``,
which inherits this process's CPU affinity) at each of ``dynaplex_num_envs``, alternating
the two so that both see the same load.

Rates are best-of-``repeats`` wall clock (``*_per_s``) and CPU time of the process
(``*_per_cpu_s``, less sensitive to other processes on a shared machine). Numerical
libraries are held to one thread. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import os

# One core: set before numpy loads its BLAS (matters for the incidence products).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import fields  # noqa: E402
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from envs.inventory_env import InventoryNetworkEnv, InventoryNetworkVecEnv  # noqa: E402
from envs.presets import load_env_config, make_network  # noqa: E402
from experiments.job import finish_run, run_job, run_main  # noqa: E402
from experiments.params import BenchEnvConfig, check  # noqa: E402


def resident_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far in MB (``getrusage``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_vector_env(env: InventoryNetworkVecEnv, actions: np.ndarray, steps: int) -> float:
    """Seconds for ``steps`` batched steps (actions cycled from a pre-drawn bank)."""
    start = time.perf_counter()
    for i in range(steps):
        env.step(actions[i % len(actions)])
    return time.perf_counter() - start


def timed_vector_env(
    net, num_envs: int, cfg: DictConfig, steps: int, action_mode: str
) -> tuple[InventoryNetworkVecEnv, np.ndarray, float, float]:
    """A VectorEnv of ``net``, its bank of random actions, and the best-of-``cfg.repeats``
    wall and CPU seconds of ``steps`` batched steps (after ``cfg.warmup_steps``)."""
    vec = InventoryNetworkVecEnv(
        net,
        num_envs=num_envs,
        seed=cfg.seed,
        episode_length=cfg.env.episode_length,
        action_mode=action_mode,
        backend=cfg.backend,
    )
    vec.reset(seed=cfg.seed)
    vec.action_space.seed(cfg.seed)
    bank = np.stack([vec.action_space.sample() for _ in range(16)])
    time_vector_env(vec, bank, cfg.warmup_steps)
    wall = cpu = float("inf")
    for _ in range(cfg.repeats):
        start = time.process_time()
        wall = min(wall, time_vector_env(vec, bank, steps))
        cpu = min(cpu, time.process_time() - start)
    return vec, bank, wall, cpu


def throughput(net, num_envs: int, cfg: DictConfig, steps: int, action_mode: str) -> dict:
    """Best-of-``cfg.repeats`` env-steps/s (wall and CPU) of a VectorEnv of ``net``."""
    _, _, wall, cpu = timed_vector_env(net, num_envs, cfg, steps, action_mode)
    return {
        "num_envs": num_envs,
        "num_nodes": net.num_nodes,
        "num_lanes": net.num_lanes,
        "env_steps_per_s": round(num_envs * steps / wall),
        "env_steps_per_cpu_s": round(num_envs * steps / cpu),
        "node_steps_per_s": round(num_envs * net.num_nodes * steps / wall),
        "node_steps_per_cpu_s": round(num_envs * net.num_nodes * steps / cpu),
        "ns_per_node_step_cpu": round(1e9 * cpu / (num_envs * net.num_nodes * steps), 2),
        "steps": steps,
    }


def steps_for(num_envs: int, num_nodes: int, cfg: DictConfig) -> int:
    """Timed steps for a point of a sweep: about ``sweep.node_steps`` node-steps."""
    return int(np.clip(cfg.sweep.node_steps // (num_envs * num_nodes), 10, cfg.steps))


def hub_and_spoke(regions: int, stores: int):
    overrides = [f"env.regions={regions}", f"env.stores_per_region={stores}"]
    return make_network(load_env_config("hub_and_spoke", overrides))


def sweep(cfg: DictConfig) -> dict:
    """The curves over num_envs (on ``cfg.env``) and over network size (hub_and_spoke)."""
    net = make_network(cfg.env)
    by_envs = []
    for b in cfg.sweep.num_envs:
        point = throughput(net, int(b), cfg, steps_for(int(b), 1, cfg), cfg.action_mode)
        by_envs.append(point)
        print(f"{cfg.env.name} num_envs={b}: {json.dumps(point)}", flush=True)
    by_size = []
    for regions, stores in cfg.sweep.sizes:
        start = time.perf_counter()
        big = hub_and_spoke(int(regions), int(stores))
        build_s = time.perf_counter() - start
        b = int(cfg.sweep.size_num_envs)
        point = throughput(big, b, cfg, steps_for(b, big.num_nodes, cfg), cfg.action_mode)
        point.update(build_s=round(build_s, 2), peak_rss_mb=round(peak_rss_mb(), 1))
        by_size.append(point)
        print(f"hub_and_spoke N={big.num_nodes}: {json.dumps(point)}", flush=True)
    return {"env": cfg.env.name, "mode": "sweep", "by_num_envs": by_envs, "by_size": by_size}


def dynaplex(cfg: DictConfig) -> dict:
    """invnet's ``lost_sales`` and DynaPlex's lost-sales VectorEnv, alternated per size."""
    net = make_network(load_env_config("lost_sales"))
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "dynaplex_lost_sales.py"
    rows = []
    for b in cfg.dynaplex_num_envs:
        b = int(b)
        steps = max(50, int(cfg.sweep.node_steps) // b)
        ours = throughput(net, b, cfg, steps, "quantity")
        out = subprocess.run(
            [str(cfg.dynaplex_python), str(script), str(b)],
            capture_output=True,
            text=True,
            check=True,
        )
        theirs = json.loads(out.stdout.strip().splitlines()[-1])
        row = {
            "num_envs": b,
            "invnet_env_steps_per_s": ours["env_steps_per_s"],
            "invnet_env_steps_per_cpu_s": ours["env_steps_per_cpu_s"],
            "dynaplex_env_steps_per_s": theirs["env_steps_per_s"],
            "dynaplex_env_steps_per_cpu_s": theirs["env_steps_per_cpu_s"],
            "ratio_wall": round(ours["env_steps_per_s"] / theirs["env_steps_per_s"], 2),
            "ratio_cpu": round(ours["env_steps_per_cpu_s"] / theirs["env_steps_per_cpu_s"], 2),
        }
        rows.append(row)
        print(f"lost_sales num_envs={b}: {json.dumps(row)}", flush=True)
    return {"env": "lost_sales", "mode": "dynaplex", "rows": rows}


def time_single_loop(envs: list[InventoryNetworkEnv], actions: np.ndarray, steps: int) -> float:
    """Seconds for ``steps`` rounds of a Python loop stepping each single env once."""
    start = time.perf_counter()
    for i in range(steps):
        batch = actions[i % len(actions)]
        for j, env in enumerate(envs):
            _, _, _, truncated, _ = env.step(batch[j])
            if truncated:
                env.reset()
    return time.perf_counter() - start


@hydra.main(config_path="../conf", config_name="bench_env", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_job(lambda run_dir: measure(cfg))


def measure(cfg: DictConfig) -> dict:
    """Time the simulator (``mode``: single, sweep or dynaplex); returns (and writes) the
    result."""
    check(BenchEnvConfig, cfg)
    if cfg.mode != "single":
        result = sweep(cfg) if cfg.mode == "sweep" else dynaplex(cfg)
        result.update(cpu=cpu_model(), backend=cfg.backend, peak_rss_mb=round(peak_rss_mb(), 1))
        finish_run(cfg, result, echo=False)  # run_job prints it
        return result
    net = make_network(cfg.env)
    settings = {"episode_length": cfg.env.episode_length, "action_mode": cfg.action_mode}
    vec, bank, seconds, cpu_seconds = timed_vector_env(
        net, cfg.num_envs, cfg, cfg.steps, cfg.action_mode
    )
    vec_rate = cfg.num_envs * cfg.steps / seconds

    singles = [
        InventoryNetworkEnv(net, seed=cfg.seed, env_index=i, backend=cfg.backend, **settings)
        for i in range(cfg.loop_envs)
    ]
    for env in singles:
        env.reset()
    loop_bank = bank[:, : cfg.loop_envs]
    time_single_loop(singles, loop_bank, 5)
    loop_seconds = time_single_loop(singles, loop_bank, cfg.loop_steps)
    loop_rate = cfg.loop_envs * cfg.loop_steps / loop_seconds

    state = vec.sim.state
    state_bytes = sum(
        getattr(state, f.name).nbytes for f in fields(state) if getattr(state, f.name) is not None
    )
    memory_steps = max(1, int(cfg.memory_env_steps) // cfg.num_envs)
    time_vector_env(vec, bank, min(memory_steps, 50))
    rss_before = resident_mb()
    time_vector_env(vec, bank, memory_steps)
    rss_after = resident_mb()

    result = {
        "env": cfg.env.name,
        "num_envs": int(cfg.num_envs),
        "num_nodes": net.num_nodes,
        "env_steps_per_s": round(vec_rate),
        "env_steps_per_cpu_s": round(cfg.num_envs * cfg.steps / cpu_seconds),
        "node_steps_per_s": round(vec_rate * net.num_nodes),
        "batched_step_ms": round(1000 * seconds / cfg.steps, 4),
        "loop_envs": int(cfg.loop_envs),
        "loop_env_steps_per_s": round(loop_rate),
        "speedup_vs_loop": round(vec_rate / loop_rate, 1),
        "state_mb": round(state_bytes / 2**20, 3),
        "memory_env_steps": memory_steps * int(cfg.num_envs),
        "rss_growth_mb": round(rss_after - rss_before, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "backend": cfg.backend,
        "action_mode": cfg.action_mode,
        "steps": int(cfg.steps),
        "cpu": cpu_model(),
        "numpy": np.__version__,
    }
    finish_run(cfg, result, echo=False)  # run_job prints it
    return result


if __name__ == "__main__":
    run_main(main)
