"""Train one agent on one env: the loop shared by ``experiments.train`` and
``experiments.benchmark``.

A run directory gets:

- ``tb/``: TensorBoard event files (SB3 logger; flushed at every write);
- ``checkpoints/step_<t>/`` and ``checkpoints/last/``: periodic checkpoints (data only:
  ``checkpoint.json``, ``parameters.pt``, ``vecnormalize.npz``; see ``agents.checkpoint``),
  so an interrupted run can be resumed with ``train.resume=<run dir>/checkpoints/last``;
- ``best/``: the agent with the lowest cost on the fixed evaluation noise;
- ``final/``: the agent at the end of training;
- ``evaluations.json``: the learning curve (cost on the evaluation noise per timestep).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import configure

from agents.callbacks import CRNEvalCallback, InventoryKPICallback, PeriodicCheckpoint, ProgressLog
from agents.checkpoint import checkpoint_dir, load_agent, save_agent
from agents.factory import build_agent, check_compatible, make_training_env
from agents.policy import AgentPolicy
from envs.network import Network


@dataclass
class TrainedAgent:
    """Outcome of ``train_agent``: the best agent as a batched policy, and how it got there."""

    policy: AgentPolicy
    history: list[dict]
    train_seconds: float
    timesteps: int
    run_dir: Path
    logger: Any = None


def progress_bar_enabled(setting: Any) -> bool:
    """``train.progress_bar``: true, false or ``auto`` (only when stderr is a terminal)."""
    if isinstance(setting, str) and setting.lower() == "auto":
        return sys.stderr.isatty()
    return bool(setting)


def train_agent(
    net: Network,
    env_cfg: DictConfig,
    agent_cfg: DictConfig,
    train_cfg: DictConfig,
    seed: int,
    run_dir: str | Path,
    references: dict[str, float] | None = None,
) -> TrainedAgent:
    """Train ``agent_cfg`` on ``net`` for ``train_cfg.total_timesteps`` and return the best
    agent (by cost on the fixed evaluation noise ``train_cfg.eval``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    action_mode = str(env_cfg.action_mode)
    check_compatible(agent_cfg, action_mode)
    resume = train_cfg.get("resume")
    if resume:
        checkpoint_dir(resume, "train.resume")  # fail before building anything
    if train_cfg.get("torch_threads"):
        torch.set_num_threads(int(train_cfg.torch_threads))
    num_envs = int(train_cfg.get("num_envs") or agent_cfg.num_envs)
    venv = make_training_env(net, num_envs, int(env_cfg.episode_length), action_mode, seed)
    if resume:
        model, env = load_agent(agent_cfg, resume, venv)
        model.set_random_seed(seed)
    else:
        model, env = build_agent(agent_cfg, venv, seed=seed)
    logger = configure(str(run_dir / "tb"), ["tensorboard", "csv"])
    model.set_logger(logger)

    history_file = run_dir / "evaluations.json"
    eval_cb = CRNEvalCallback(
        net,
        action_mode,
        eval_every=int(train_cfg.eval_every),
        eval_cfg=train_cfg.eval,
        references=references or {},
        best_dir=run_dir / "best",
        history_file=history_file,
    )
    progress_bar = progress_bar_enabled(train_cfg.get("progress_bar", "auto"))
    callbacks = [
        InventoryKPICallback(net),
        eval_cb,
        PeriodicCheckpoint(run_dir / "checkpoints", int(train_cfg.checkpoint_every)),
    ]
    if not progress_bar:  # a log line every 5% instead (console and the run's log file)
        callbacks.append(ProgressLog(int(train_cfg.total_timesteps)))
    done = int(model.num_timesteps)
    remaining = max(int(train_cfg.total_timesteps) - done, 0)
    start = time.time()
    if remaining > 0:
        model.learn(
            total_timesteps=remaining,
            callback=CallbackList(callbacks),
            reset_num_timesteps=not resume,
            progress_bar=progress_bar,
        )
    else:  # nothing left to train: still evaluate, so the run has a best agent
        eval_cb.init_callback(model)
        eval_cb.run_eval()
    seconds = time.time() - start
    save_agent(model, env, run_dir / "final")

    best_model, best_env = load_agent(agent_cfg, run_dir / "best", venv, option="best")
    best_env.training = False
    best_env.norm_reward = False
    policy = AgentPolicy(best_model, best_env, net, action_mode)
    return TrainedAgent(
        policy=policy,
        history=json.loads(history_file.read_text()),
        train_seconds=seconds,
        timesteps=int(model.num_timesteps),
        run_dir=run_dir,
        logger=logger,
    )


def load_policy(
    agent_cfg: DictConfig, env_cfg: DictConfig, net: Network, path: str | Path
) -> AgentPolicy:
    """A saved agent (``<dir>`` or a file in it) as a batched policy, for evaluation; the
    model is rebuilt from ``agent_cfg`` and only numbers are read from the checkpoint."""
    venv = make_training_env(net, 1, int(env_cfg.episode_length), str(env_cfg.action_mode), 0)
    model, env = load_agent(agent_cfg, path, venv, option="agent path")
    env.training = False
    env.norm_reward = False
    return AgentPolicy(model, env, net, str(env_cfg.action_mode))
