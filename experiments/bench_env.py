"""Throughput of the batched simulator, against a plain per-env Python loop.

    python -m experiments.bench_env env=network num_envs=1024

Times random-policy steps (uniform actions in the env's action space, drawn before the
clock starts) of ``InventoryNetworkVecEnv`` — observation building, noise, transition
and autoreset included — then the same number of env-steps of a Python loop over
``InventoryNetworkEnv`` single envs, and reports both and their ratio. It also reports
the bytes held by the state of ``num_envs`` envs and the growth of the process's
resident memory over ``memory_env_steps`` env-steps. Numerical libraries are held to one
thread, so the figures are for one CPU core. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import os

# One core: set before numpy loads its BLAS (matters for the incidence products).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import fields  # noqa: E402
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from envs.inventory_env import InventoryNetworkEnv, InventoryNetworkVecEnv  # noqa: E402
from envs.presets import make_network  # noqa: E402
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


def time_vector_env(env: InventoryNetworkVecEnv, actions: np.ndarray, steps: int) -> float:
    """Seconds for ``steps`` batched steps (actions cycled from a pre-drawn bank)."""
    start = time.perf_counter()
    for i in range(steps):
        env.step(actions[i % len(actions)])
    return time.perf_counter() - start


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
    """Time the batched env and the per-env loop; returns (and writes) the result."""
    check(BenchEnvConfig, cfg)
    net = make_network(cfg.env)
    settings = {"episode_length": cfg.env.episode_length, "action_mode": cfg.action_mode}
    vec = InventoryNetworkVecEnv(net, num_envs=cfg.num_envs, seed=cfg.seed, **settings)
    vec.reset(seed=cfg.seed)
    vec.action_space.seed(cfg.seed)
    bank = np.stack([vec.action_space.sample() for _ in range(16)])
    time_vector_env(vec, bank, cfg.warmup_steps)
    seconds = min(time_vector_env(vec, bank, cfg.steps) for _ in range(cfg.repeats))
    vec_rate = cfg.num_envs * cfg.steps / seconds

    singles = [
        InventoryNetworkEnv(net, seed=cfg.seed, env_index=i, **settings)
        for i in range(cfg.loop_envs)
    ]
    for env in singles:
        env.reset()
    loop_bank = bank[:, : cfg.loop_envs]
    time_single_loop(singles, loop_bank, 5)
    loop_seconds = time_single_loop(singles, loop_bank, cfg.loop_steps)
    loop_rate = cfg.loop_envs * cfg.loop_steps / loop_seconds

    state = vec.sim.state
    state_bytes = sum(getattr(state, f.name).nbytes for f in fields(state))
    memory_steps = max(1, int(cfg.memory_env_steps) // cfg.num_envs)
    time_vector_env(vec, bank, min(memory_steps, 50))
    rss_before = resident_mb()
    time_vector_env(vec, bank, memory_steps)
    rss_after = resident_mb()

    result = {
        "env": cfg.env.name,
        "num_envs": int(cfg.num_envs),
        "env_steps_per_s": round(vec_rate),
        "batched_step_ms": round(1000 * seconds / cfg.steps, 4),
        "loop_envs": int(cfg.loop_envs),
        "loop_env_steps_per_s": round(loop_rate),
        "speedup_vs_loop": round(vec_rate / loop_rate, 1),
        "state_mb": round(state_bytes / 2**20, 3),
        "memory_env_steps": memory_steps * int(cfg.num_envs),
        "rss_growth_mb": round(rss_after - rss_before, 2),
        "action_mode": cfg.action_mode,
        "steps": int(cfg.steps),
        "cpu": cpu_model(),
        "numpy": np.__version__,
    }
    finish_run(cfg, result, echo=False)  # run_job prints it
    return result


if __name__ == "__main__":
    run_main(main)
