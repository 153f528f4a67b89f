"""Reference policies for an agent: tuned baselines and the optimum, on common noise.

The baselines come from ``baselines.registry.make_policy`` (tuned by simulation on their
own tuning noise); ``optimal`` (value iteration, ``baselines.value_iteration``) applies to
networks with one stocking node. Every policy, learned or not, is then measured with
``baselines.evaluation.evaluate`` on the same seed, so costs compare pairwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from baselines.evaluation import EvalResult, evaluate_on, paired_difference
from baselines.policy_base import Policy
from baselines.single_node import single_node
from envs.network import Network

log = logging.getLogger(__name__)

OPTIMAL = "optimal"


def optimal_applies(net: Network) -> bool:
    """Value iteration applies where ``single_node`` recognises the single-node model it
    solves (one stocking node fed by one lane with a fixed lead time, stationary demand, no
    disruptions or capacities): one test, so ``optimal: auto`` never picks a model the
    solver then refuses."""
    return not isinstance(single_node(net), str)


@dataclass(frozen=True)
class Baseline:
    """A baseline to compare with: a policy config (``conf/policy/<policy>.yaml``) and,
    optionally, a transfer rule (``conf/policy/transfers/<transfers>.yaml``), as the
    entry ``{policy: base_stock, transfers: rebalance}`` of a ``baselines`` list (a bare
    name: no rule)."""

    policy: str
    transfers: str | None = None

    @property
    def name(self) -> str:
        """Its name in reports: ``base_stock``, or ``base_stock+rebalance`` with a rule."""
        return self.policy if self.transfers is None else f"{self.policy}+{self.transfers}"

    @classmethod
    def of(cls, entry: Any) -> Baseline:
        """A ``baselines`` list entry: a policy name or a ``{policy, transfers}`` mapping."""
        if isinstance(entry, Baseline):
            return entry
        if isinstance(entry, str):
            if "+" in entry:
                policy, _, rule = entry.partition("+")
                raise ValueError(f"name a transfer rule as {{policy: {policy}, transfers: {rule}}}")
            return cls(entry)
        if isinstance(entry, Mapping | DictConfig):
            keys = set(entry)
            if "policy" not in keys or not keys <= {"policy", "transfers"}:
                raise ValueError(
                    f"expected a policy name or {{policy: <name>, transfers: <rule>}}, got keys "
                    f"{sorted(keys)}"
                )
            rule = entry.get("transfers")
            return cls(str(entry["policy"]), None if rule is None else str(rule))
        raise ValueError(f"expected a policy name or {{policy, transfers}}, got {entry!r}")


def reference_names(entries: list[Any], net: Network, optimal: Any = "auto") -> list[Baseline]:
    """The baselines to run on ``net``: ``entries`` (names or ``{policy, transfers}``)
    plus ``optimal`` where it applies."""
    out = [Baseline.of(entry) for entry in entries]
    want = optimal_applies(net) if str(optimal).lower() == "auto" else bool(optimal)
    if want and OPTIMAL not in [b.name for b in out]:
        out.append(Baseline(OPTIMAL))
    if not want and str(optimal).lower() != "auto":
        out = [b for b in out if b.name != OPTIMAL]
    return out


def make_references(
    baselines: list[Baseline], net: Network, tune: Any, seed: int = 0
) -> dict[str, tuple[Policy, dict]]:
    """Build (and tune) each baseline: its name -> (policy, tuned parameters)."""
    out: dict[str, tuple[Policy, dict]] = {}
    if not baselines:
        return out
    from baselines.registry import make_policy, policy_config

    for baseline in baselines:
        cfg = policy_config(baseline.policy, baseline.transfers)
        policy, params = make_policy(cfg, net, tune=tune, seed=seed)
        out[baseline.name] = (policy, dict(params or {}))
        log.info("baseline %s: %s", baseline.name, params)
    return out


def evaluate_all(
    net: Network, policies: dict[str, Policy], eval_cfg: Any, record: int = 0
) -> dict[str, EvalResult]:
    """Every policy on the same noise (``eval_cfg``: envs, periods, warmup, seed)."""
    return {name: evaluate_on(net, p, eval_cfg, record) for name, p in policies.items()}


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
