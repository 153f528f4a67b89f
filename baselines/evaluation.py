"""Evaluate any policy on common random numbers.

Every policy — heuristic, exact or learned — answers one batched call,
``policy.act(state) -> quantities [B, E]`` (order/transfer quantity per lane), and is
reset with the run's noise before the first period (``baselines.rollout``; the oracle
reads ahead in that noise). ``evaluate`` runs B independent
replications of one long episode, each env on its own noise stream of ``seed``, so two
policies evaluated with the same seed see exactly the same demands and lead times
(common random numbers) and their per-env costs can be compared pairwise.

Long-run average cost per period = mean cost per period after ``warmup`` periods;
the 95% confidence interval is over the B independent replications (Student t).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from baselines.kpi import KPIMeter
from baselines.policy_base import Policy
from baselines.rollout import StreamNoise, rollout
from envs.network import Network
from envs.noise import NoiseStream
from envs.transition import Costs, Flows, State, initial_state


@dataclass
class EvalResult:
    """Outcome of ``evaluate``.

    Attributes:
        cost_per_env: long-run average cost per period of each replication [B].
        cost_mean: mean of ``cost_per_env``.
        cost_ci95: half-width of the 95% confidence interval of ``cost_mean``.
        breakdown: mean cost per period by component (holding, backlog, ...).
        fill_rate: share of demand served in the period it arose, all demand points pooled.
        fill_rate_per_node: the same per demand point (demand node or zone) [D].
        cycle_service_level: share of (env, period, point) with no shortage, per point [D].
        order_lead_time: share of units delivered the same period, the next, later.
        order_lead_time_per_point: the same per demand point [D, 3].
        mean_order_lead_time: mean periods from order to delivery (Little's law).
        landed_cost_per_unit: total cost per unit delivered to customers.
        mean_on_hand: mean on-hand per node [N].
        transfer_volume: mean units moved on transfer lanes per period.
        dropship_volume: mean units delivered straight from suppliers per period.
        inventory_turns: sales / mean on-hand of the whole network (per period).
        inventory_turns_per_node: units shipped out / mean on-hand, per node [N].
        (Definitions: ``baselines.kpi``.)
        periods, warmup, envs, seed: how it was measured.
        per_period: per period (warm-up included), summed over envs and demand points:
            ``demand``, ``filled``, ``lost``, ``delivered`` and ``waited`` (units x periods
            from order to delivery: backlog at the period's end plus delivery times), and
            the mean ``cost`` over envs [periods] each (for outage studies).
        per_sku: with several SKUs, each SKU's class and KPIs (``KPIMeter.per_sku``).
    """

    cost_per_env: np.ndarray
    cost_mean: float
    cost_ci95: float
    breakdown: dict[str, float]
    fill_rate: float
    fill_rate_per_node: np.ndarray
    cycle_service_level: np.ndarray
    mean_on_hand: np.ndarray
    transfer_volume: float
    inventory_turns: float
    order_lead_time: dict[str, float]
    order_lead_time_per_point: np.ndarray
    mean_order_lead_time: float
    landed_cost_per_unit: float
    dropship_volume: float
    inventory_turns_per_node: np.ndarray
    periods: int
    warmup: int
    envs: int
    seed: int
    trajectory: dict[str, np.ndarray] = field(default_factory=dict)
    per_period: dict[str, np.ndarray] = field(default_factory=dict)
    per_sku: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready headline numbers."""
        return {
            "cost_mean": self.cost_mean,
            "cost_ci95": self.cost_ci95,
            "fill_rate": self.fill_rate,
            "inventory_turns": self.inventory_turns,
            "transfer_volume": self.transfer_volume,
            "order_lead_time": self.order_lead_time,
            "mean_order_lead_time": self.mean_order_lead_time,
            "landed_cost_per_unit": self.landed_cost_per_unit,
            "dropship_volume": self.dropship_volume,
            "breakdown": self.breakdown,
            "periods": self.periods,
            "warmup": self.warmup,
            "envs": self.envs,
            "seed": self.seed,
            **({"per_sku": self.per_sku} if self.per_sku else {}),
        }


PER_PERIOD = ("demand", "filled", "lost", "delivered", "waited", "cost")


def ci95(samples: np.ndarray) -> float:
    """Half-width of the 95% Student-t confidence interval of the mean of ``samples``."""
    n = len(samples)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * np.std(samples, ddof=1) / np.sqrt(n))


def evaluate(
    net: Network,
    policy: Policy,
    num_envs: int = 64,
    periods: int = 2000,
    warmup: int = 200,
    seed: int = 12345,
    record: int = 0,
) -> EvalResult:
    """Long-run average cost of ``policy`` on ``net`` over ``num_envs`` replications.

    Args:
        net: the network.
        policy: a ``Policy`` (``baselines.policy_base``).
        num_envs: independent replications B (each its own noise stream of ``seed``).
        periods: periods simulated per replication, warm-up included.
        warmup: first periods left out of every statistic.
        seed: root seed of the noise streams (same seed = common random numbers).
        record: keep the first ``record`` periods of env 0's on-hand, backlog, demand, lost
            sales and shipments in ``trajectory`` (for plots).
    """
    noise = StreamNoise(NoiseStream(net, num_envs, seed))
    meter = KPIMeter(net)
    traj: dict[str, list] = {"on_hand": [], "backlog": [], "demand": [], "lost": [], "shipped": []}

    series = {k: np.zeros(periods) for k in PER_PERIOD}
    delivery = net.fulfilment_delivery.astype(float)

    def observe(t: int, state: State, costs: Costs, flows: Flows) -> None:
        series["demand"][t] = flows.demand.sum()
        series["filled"][t] = flows.filled.sum()
        series["lost"][t] = flows.lost.sum()
        series["delivered"][t] = flows.sales.sum()
        waited = flows.backlog.sum()
        if flows.fulfilled is not None:
            waited += (flows.fulfilled * delivery).sum()
        series["waited"][t] = waited
        series["cost"][t] = costs.total.mean()
        if t < record:
            traj["on_hand"].append(state.on_hand[0].copy())
            traj["backlog"].append(state.backlog[0].copy())
            traj["demand"].append(flows.demand[0].copy())
            traj["lost"].append(flows.lost[0].copy())
            traj["shipped"].append(flows.shipped[0].copy())
        if t >= warmup:
            meter.add(costs.as_dict(), flows, state.on_hand)
        elif t == warmup - 1:
            meter.remember(flows)

    cost_per_env = rollout(
        net,
        policy,
        initial_state(net, num_envs),
        noise,
        periods,
        warmup,
        observe,
    )
    return EvalResult(
        cost_per_env=cost_per_env,
        cost_mean=float(cost_per_env.mean()),
        cost_ci95=ci95(cost_per_env),
        **meter.summary(),
        periods=periods,
        warmup=warmup,
        envs=num_envs,
        seed=seed,
        trajectory={k: np.array(v) for k, v in traj.items() if v},
        per_period=series,
    )


def evaluate_on(net: Network, policy: Policy, eval_cfg: Any, record: int = 0) -> EvalResult:
    """``evaluate`` with the settings of an evaluation config (``eval``, ``train.eval``,
    ``benchmark.eval``, ...: ``envs``, ``periods``, ``warmup``, ``seed``)."""
    return evaluate(
        net,
        policy,
        num_envs=int(eval_cfg.envs),
        periods=int(eval_cfg.periods),
        warmup=int(eval_cfg.warmup),
        seed=int(eval_cfg.seed),
        record=record,
    )


def paired_difference(a: EvalResult, b: EvalResult) -> tuple[float, float]:
    """Mean and 95% CI half-width of cost(a) − cost(b), paired by replication.

    Valid only when both were evaluated with the same seed and replications (common
    random numbers); the pairing removes the variance both share.
    """
    if a.seed != b.seed or a.envs != b.envs:
        raise ValueError(
            f"paired_difference: needs the same seed and envs, got seeds {a.seed}/{b.seed}"
            f" and envs {a.envs}/{b.envs}"
        )
    diff = a.cost_per_env - b.cost_per_env
    return float(diff.mean()), ci95(diff)
