"""Reference policies for an agent: tuned baselines and the optimum, on common noise.

The baselines come from ``baselines.registry.make_policy`` (tuned by simulation on their
own tuning noise); ``optimal`` (value iteration, ``baselines.value_iteration``) applies to
networks with one stocking node. Every policy, learned or not, is then measured with
``baselines.evaluation.evaluate`` on the same seed, so costs compare pairwise.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from baselines.evaluation import EvalResult, evaluate, paired_difference
from baselines.policy_base import Policy
from baselines.single_node import single_node
from envs.network import Network
from envs.presets import CONF_DIR

log = logging.getLogger(__name__)

OPTIMAL = "optimal"


def optimal_applies(net: Network) -> bool:
    """Value iteration applies where ``single_node`` recognises the single-node model it
    solves (one stocking node fed by one lane with a fixed lead time, stationary demand, no
    disruptions or capacities): one test, so ``optimal: auto`` never picks a model the
    solver then refuses."""
    return not isinstance(single_node(net), str)


def policy_config(name: str, overrides: dict | None = None) -> DictConfig:
    """``conf/policy/<name>.yaml``; ``a+b`` combines a replenishment policy with a transfer
    rule (e.g. ``base_stock+rebalance``)."""
    file = CONF_DIR / "policy" / f"{name}.yaml"
    if not file.is_file():
        known = sorted(p.stem for p in (CONF_DIR / "policy").glob("*.yaml"))
        raise ValueError(f"baselines: unknown policy {name!r}; known: {known}")
    cfg = OmegaConf.load(file)
    if overrides:
        cfg = OmegaConf.merge(cfg, overrides)
    return cfg


def reference_names(names: list[str], net: Network, optimal: Any = "auto") -> list[str]:
    """The baselines to run on ``net``: ``names`` plus ``optimal`` where it applies."""
    out = [str(n) for n in names]
    want = optimal_applies(net) if str(optimal).lower() == "auto" else bool(optimal)
    if want and OPTIMAL not in out:
        out.append(OPTIMAL)
    if not want and str(optimal).lower() != "auto":
        out = [n for n in out if n != OPTIMAL]
    return out


def make_references(
    names: list[str], net: Network, tune: Any, seed: int = 0
) -> dict[str, tuple[Policy, dict]]:
    """Build (and tune) each named baseline: name -> (policy, tuned parameters)."""
    out: dict[str, tuple[Policy, dict]] = {}
    if not names:
        return out
    from baselines.registry import make_policy

    for name in names:
        spec = policy_spec(name)
        policy, params = make_policy(spec, net, tune=tune, seed=seed)
        out[name] = (policy, dict(params or {}))
        log.info("baseline %s: %s", name, params)
    return out


def policy_spec(name: str) -> Any:
    """What ``make_policy`` takes for ``name``: its config (``a+b``: the combination)."""
    return policy_config(name) if "+" not in name else name


def evaluate_all(
    net: Network, policies: dict[str, Policy], eval_cfg: Any, record: int = 0
) -> dict[str, EvalResult]:
    """Every policy on the same noise (``eval_cfg``: envs, periods, warmup, seed)."""
    return {
        name: evaluate(
            net,
            policy,
            num_envs=int(eval_cfg.envs),
            periods=int(eval_cfg.periods),
            warmup=int(eval_cfg.warmup),
            seed=int(eval_cfg.seed),
            record=record,
        )
        for name, policy in policies.items()
    }


def compare(agent: EvalResult, baselines: dict[str, EvalResult]) -> dict[str, Any]:
    """Headline comparison of an agent with the best baseline (and the optimum when known).

    ``gap_pct`` = 100 (agent − best baseline) / best baseline; ``paired_diff`` and its 95%
    CI are paired by replication (common random numbers).
    """
    heuristics = {k: v for k, v in baselines.items() if k != OPTIMAL}
    out: dict[str, Any] = {
        "cost_mean": agent.cost_mean,
        "cost_ci95": agent.cost_ci95,
        "fill_rate": agent.fill_rate,
        "best_baseline": None,
        "best_baseline_cost": None,
        "gap_pct": None,
    }
    if heuristics:
        best = min(heuristics, key=lambda k: heuristics[k].cost_mean)
        ref = heuristics[best]
        diff, half = paired_difference(agent, ref)
        out.update(
            best_baseline=best,
            best_baseline_cost=ref.cost_mean,
            gap_pct=100.0 * (agent.cost_mean - ref.cost_mean) / ref.cost_mean,
            paired_diff=diff,
            paired_diff_ci95=half,
        )
    if OPTIMAL in baselines:
        opt = baselines[OPTIMAL]
        out.update(
            optimum_cost=opt.cost_mean,
            gap_to_optimum_pct=100.0 * (agent.cost_mean - opt.cost_mean) / opt.cost_mean,
        )
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}
