"""Train an RL agent on an inventory network and compare it with the tuned baselines.

    python -m experiments.train env=owmr_transship agent=ppo train.total_timesteps=500000 seed=1
    python -m experiments.train env=lost_sales agent=sac train.resume=<run dir>/checkpoints/last
    tensorboard --logdir outputs/train

Reads top to bottom:

1. tune the baselines (``baselines.registry``) and measure them on the fixed evaluation
   noise: their costs are drawn as flat ``baseline/<name>`` lines in TensorBoard;
2. train the agent (``agents.training.train_agent``): periodic evaluation on the same fixed
   noise, best checkpoint kept, periodic checkpoints, TensorBoard logs in the run dir;
3. evaluate the best agent and every baseline on fresh common noise (``train.final_eval``)
   and report the gap to the best baseline (paired 95% CI) and to the optimum where value
   iteration applies.

Writes ``results.json`` and ``config.yaml`` into the run dir and prints one JSON line last.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

import envs.presets  # noqa: F401  (registers the env schema in Hydra's ConfigStore)
from agents.callbacks import log_hparams
from agents.checkpoint import checkpoint_dir
from agents.factory import agent_settings, check_compatible
from agents.hdpo import check_settings, hdpo_checkpoint_dir, is_hdpo, train_hdpo
from agents.training import TrainedAgent, train_agent
from baselines.references import compare, evaluate_all, make_references, reference_names
from envs.network import Network
from envs.presets import make_network
from experiments.job import env_preset, run_job, run_main, write_results
from experiments.params import TrainConfig, check

log = logging.getLogger(__name__)


def train(
    cfg: DictConfig, net: Network, run_dir: Path, references: dict[str, float]
) -> TrainedAgent:
    """Train the agent of a composed train config (``agent``, ``train``, ``seed``) on
    ``net`` in ``run_dir``, which gets the resolved ``config.yaml``: the one place an agent
    (SB3 or HDPO) is trained, for this entry point and for every (agent, seed) of a
    benchmark. ``references``: the baselines' costs on the evaluation noise."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    trainer = train_hdpo if is_hdpo(cfg.agent) else train_agent
    return trainer(net, cfg.env, cfg.agent, cfg.train, int(cfg.seed), run_dir, references)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """One training run; returns the results written to ``results.json``."""
    check(TrainConfig, cfg)  # every parameter, before any work
    env_cfg, agent_cfg, train_cfg = cfg.env, cfg.agent, cfg.train
    check_compatible(agent_cfg, str(env_cfg.action_mode))
    hdpo = is_hdpo(agent_cfg)
    if train_cfg.resume:
        (hdpo_checkpoint_dir if hdpo else checkpoint_dir)(train_cfg.resume, "train.resume")
    net = make_network(env_cfg)
    if hdpo:
        check_settings(net, env_cfg, agent_cfg)  # a typo fails here, not after the tuning

    wanted = reference_names(list(train_cfg.baselines), net, train_cfg.optimal)
    baselines = make_references(wanted, net, tune=train_cfg.tune, seed=int(cfg.seed))
    policies = {name: policy for name, (policy, _) in baselines.items()}
    on_eval_noise = evaluate_all(net, policies, train_cfg.eval)
    references = {name: r.cost_mean for name, r in on_eval_noise.items()}

    trained = train(cfg, net, run_dir, references)

    final = evaluate_all(net, {"agent": trained.policy, **policies}, train_cfg.final_eval)
    agent_result = final.pop("agent")
    summary = {
        "env": env_preset(cfg),
        "agent": str(agent_cfg.name),
        **compare(agent_result, final),
        "train_seconds": trained.train_seconds,
        "timesteps": trained.timesteps,
        "seed": int(cfg.seed),
    }
    hparams = {**agent_settings(agent_cfg), "env": env_preset(cfg), "seed": int(cfg.seed)}
    log_hparams(
        trained.logger,
        hparams,
        {
            "final/cost_mean": summary["cost_mean"],
            "final/gap_pct": summary["gap_pct"],
            "final/gap_to_optimum_pct": summary.get("gap_to_optimum_pct"),
            "final/fill_rate": summary["fill_rate"],
        },
        trained.timesteps,
    )
    trained.logger.close()
    results = {
        "summary": summary,
        "agent": agent_result.summary(),
        "baselines": {
            name: {**final[name].summary(), "params": baselines[name][1]} for name in final
        },
        "learning_curve": trained.history,
        "run_dir": str(run_dir),
    }
    write_results(run_dir, results)
    print(f"tensorboard --logdir {run_dir / 'tb'}")
    return summary


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    return run_job(lambda run_dir: run(cfg, run_dir))


if __name__ == "__main__":
    run_main(main)
