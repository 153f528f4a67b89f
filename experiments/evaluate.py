"""Evaluate one classical policy on one environment preset.

    python -m experiments.evaluate env=lost_sales policy=base_stock policy.tune=true
    python -m experiments.evaluate env=serial policy=echelon_base_stock
    python -m experiments.evaluate env=lost_sales policy=s_S policy.reorder_points=[15] \
        policy.order_up_to_levels=[19]
    python -m experiments.evaluate env=owmr_transship policy=base_stock \
        +policy/transfers=rebalance policy.tune=true

Reads top to bottom:

1. build the network of ``env`` and the policy of ``policy`` (``baselines.registry``):
   parameters given, computed (exact where theory applies) or, with ``policy.tune=true``,
   searched by simulation on the ``tune`` budget (its own noise, ``tune.seed``);
2. evaluate it on ``eval.envs`` replications of ``eval.periods`` periods of common
   noise (``eval.seed``): long-run average cost per period per env after ``eval.warmup``,
   with a 95% confidence interval over the replications;
3. write ``results.json`` and ``config.yaml`` into the Hydra run dir and print one JSON
   object as the last stdout line (env, policy, params, cost_mean, cost_ci95, fill_rate,
   periods, envs, seed, ...).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import envs.presets  # noqa: F401  (registers the env schema in Hydra's ConfigStore)
from agents.runs import load_run_policy
from baselines.evaluation import evaluate_on
from baselines.registry import make_policy
from envs.presets import EnvConfig, make_network
from experiments.job import env_preset, run_job, run_main, write_results
from experiments.params import EvaluateConfig, check


def run(cfg: DictConfig, run_dir: Path, policy_name: str = "") -> dict[str, Any]:
    """Build (and tune) the policy, evaluate it; return the summary (also in results.json)."""
    check(EvaluateConfig, cfg)  # every parameter, before any work
    t0 = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    ev, tune_cfg = cfg.eval, cfg.tune
    if policy_name == "agent":  # a trained agent, on the env of its own training run
        policy, trained = load_run_policy(cfg.policy.run, cfg.policy.checkpoint)
        cfg.env = OmegaConf.merge(EnvConfig, trained.config.env)  # typed, as composed
        net = trained.net
        params = {
            "policy": str(trained.config.agent.name),
            "run": str(cfg.policy.run),
            "checkpoint": str(cfg.policy.checkpoint),
        }
    else:
        net = make_network(cfg.env)
        tuning = bool(cfg.policy.tune)
        if tuning and int(ev.seed) in (int(tune_cfg.seed), int(tune_cfg.seed) + 1):
            print(
                f"warning: eval.seed={ev.seed} is the tuning noise; the cost will be optimistic",
                file=sys.stderr,
            )
        tune = OmegaConf.to_container(tune_cfg, resolve=True) if tuning else False
        policy, params = make_policy(cfg.policy, net, tune=tune, seed=int(tune_cfg.seed))
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    result = evaluate_on(net, policy, ev)
    summary = {
        "env": env_preset(cfg) if policy_name != "agent" else str(cfg.env.name),
        "policy": params["policy"]
        if policy_name == "agent"
        else policy_name or params.get("policy", ""),
        "params": params,
        "cost_mean": result.cost_mean,
        "cost_ci95": result.cost_ci95,
        "fill_rate": result.fill_rate,
        "periods": result.periods,
        "warmup": result.warmup,
        "envs": result.envs,
        "seed": result.seed,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    results = {
        **summary,
        "evaluation": {
            **result.summary(),
            "fill_rate_per_node": result.fill_rate_per_node,
            "cycle_service_level": result.cycle_service_level,
            "order_lead_time_per_point": result.order_lead_time_per_point,
            "mean_on_hand": dict(zip(net.node_names, result.mean_on_hand.tolist())),
            "inventory_turns_per_node": dict(
                zip(net.node_names, result.inventory_turns_per_node.tolist())
            ),
            # The demand points of the per-point lists: demand nodes, then zones.
            "demand_nodes": list(net.demand_names),
        },
        "run_dir": str(run_dir),
    }
    write_results(run_dir, results)
    return summary


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    policy_name = HydraConfig.get().runtime.choices.get("policy", "")
    return run_job(lambda run_dir: run(cfg, run_dir, policy_name))


if __name__ == "__main__":
    run_main(main)
