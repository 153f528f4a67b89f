"""Throughput of DynaPlex's lost-sales VectorEnv, for a side-by-side with invnet.

Run with the interpreter of a venv that holds ``dynaplex==1.14.1`` (kept apart from the
project's venv so it cannot change numpy or torch there)::

    /work/dynaplex-venv/bin/python benchmarks/dynaplex_lost_sales.py 1024 4096

The model is invnet's ``lost_sales`` preset: Poisson(5) demand, lead time 2, holding
cost 1, lost-sales penalty 9 (``dynaplex.models.lost_sales.LostSalesMDP``, Zipkin 2008),
stepped by ``dynaplex.gym.VectorEnv`` (engine backend, one worker world: one core) with
random valid actions drawn before the clock starts. Prints one JSON line per batch size.
"""

from __future__ import annotations

import json
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from dynaplex.gym import VectorEnv  # noqa: E402
from dynaplex.modelling import DiscreteDist  # noqa: E402
from dynaplex.models.lost_sales import LostSalesFeaturizer, LostSalesMDP  # noqa: E402


def bench(num_envs: int, steps: int, repeats: int = 3) -> dict:
    mdp = LostSalesMDP(p=9.0, h=1.0, leadtime=2, demand_dist=DiscreteDist.poisson(5.0))
    start = time.perf_counter()
    env = VectorEnv(mdp, features=LostSalesFeaturizer, num_envs=num_envs, workers=1)
    env.reset(seed=0)
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    bank = rng.integers(0, mdp.num_actions, size=(16, num_envs))
    for i in range(20):
        env.step(bank[i % 16])
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            env.step(bank[i % 16])
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return {
        "simulator": "dynaplex",
        "env": "lost_sales",
        "num_envs": num_envs,
        "env_steps_per_s": round(num_envs * steps / best_wall),
        "env_steps_per_cpu_s": round(num_envs * steps / best_cpu),
        "build_s": round(build_s, 2),
    }


if __name__ == "__main__":
    sizes = [int(x) for x in sys.argv[1:]] or [1024, 4096]
    for b in sizes:
        print(json.dumps(bench(b, steps=max(50, 400_000 // b))), flush=True)
