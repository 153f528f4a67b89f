"""How much of an SB3 training run the simulator takes.

    python -m experiments.bench_train env=owmr_transship agent=ppo train.total_timesteps=131072

Builds the agent exactly as ``experiments.train`` does (same configs, VecNormalize, the
native batched VecEnv and the TensorBoard KPI callback), trains it for
``train.total_timesteps`` without evaluations or checkpoints, and times the env's
``step_wait`` and ``reset`` against the wall time of ``model.learn`` (the compiled step is
loaded, or compiled, before the clock starts; ``compiled_step_load_s``). The last line of
stdout is one JSON object with ``env_share_pct``.
"""

from __future__ import annotations

import time

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from stable_baselines3.common.logger import configure

from agents.callbacks import InventoryKPICallback
from agents.factory import build_agent, make_training_env
from envs.presets import make_network
from envs.simulator import Simulator
from experiments.job import finish_run, run_job, run_main
from experiments.params import TrainConfig, check


class _Timed:
    """Wraps a VecEnv method and adds its wall time to ``seconds``."""

    def __init__(self, method):
        self.method, self.seconds = method, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_job(lambda run_dir: measure(cfg))


def measure(cfg: DictConfig) -> dict:
    """Train as configured and time the env's share; returns (and writes) the result."""
    check(TrainConfig, cfg)
    torch.set_num_threads(int(cfg.train.torch_threads))
    net = make_network(cfg.env)
    num_envs = int(cfg.train.num_envs or cfg.agent.num_envs)
    venv = make_training_env(
        net, num_envs, int(cfg.env.episode_length), str(cfg.env.action_mode), int(cfg.seed)
    )
    venv.step_wait = _Timed(venv.step_wait)
    venv.reset = _Timed(venv.reset)
    # Load (or, after an install, compile) the compiled step outside the timed run, on a
    # throwaway simulator so the training env's streams are untouched.
    start = time.perf_counter()
    warm = Simulator(net, 1, action_mode=str(cfg.env.action_mode))
    warm.step(np.zeros((1, net.num_lanes)))
    compile_s = time.perf_counter() - start
    model, _ = build_agent(cfg.agent, venv, seed=int(cfg.seed))
    model.set_logger(configure(None, []))
    start = time.perf_counter()
    model.learn(int(cfg.train.total_timesteps), callback=InventoryKPICallback(net))
    wall = time.perf_counter() - start
    env_seconds = venv.step_wait.seconds + venv.reset.seconds
    result = {
        "env": cfg.env.name,
        "agent": cfg.agent.name,
        "num_envs": num_envs,
        "timesteps": int(cfg.train.total_timesteps),
        "wall_s": round(wall, 2),
        "env_s": round(env_seconds, 5),  # a short run spends milliseconds in the simulator
        "env_share_pct": round(100 * env_seconds / wall, 4),
        "steps_per_s": round(int(cfg.train.total_timesteps) / wall),
        "torch_threads": int(cfg.train.torch_threads),
        "compiled_step_load_s": round(compile_s, 2),
    }
    finish_run(cfg, result, echo=False)  # run_job prints it
    return result


if __name__ == "__main__":
    run_main(main)
