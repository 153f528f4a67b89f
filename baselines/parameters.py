"""Computed parameters: exact where theory applies, a newsvendor-style start otherwise.

``computed_parameters(policy_class, net)`` gives a node policy its parameters without
simulation: exact (Clark–Scarf / Chen–Zheng echelon base-stock on a serial backlog
network, Zheng–Federgruen (s,S) and the newsvendor on a single node) or a start for the
simulation search of ``baselines.tuning``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from baselines.protection import critical_ratio, normal_level, protection_moments
from baselines.single_node import SingleNode, single_node
from baselines.structure import replenishment_tree, serial_stages
from envs.network import Network


@dataclass(frozen=True)
class Computed:
    """Parameters computed for a policy class on a network.

    Attributes:
        params: parameter vectors by name (one entry per ordering node).
        method: how they were obtained, in words (e.g. ``exact: Zheng-Federgruen (1991)``).
        exact: True when they are optimal for the policy class (no simulation search needed).
    """

    params: dict[str, np.ndarray]
    method: str
    exact: bool = False


def _newsvendor_start(net: Network) -> np.ndarray:
    tree = replenishment_tree(net)
    return normal_level(*protection_moments(net, tree), critical_ratio(net, tree))


def _eoq(net: Network) -> np.ndarray:
    """Economic order quantity sqrt(2 K mu / h) per ordering node on its primary lane
    (Harris 1913), at least 1."""
    tree = replenishment_tree(net)
    k = net.fixed_cost[tree.lanes]
    h = np.maximum(net.holding_cost[tree.nodes], 1e-9)
    return np.maximum(np.round(np.sqrt(2 * k * tree.mean_demand / h)), 1.0)


def serial_backlog_instance(net: Network) -> dict | None:
    """Arguments of ``analytic.serial_echelon_base_stock`` when ``net`` is a serial system
    with backlog, deterministic lead times, stationary demand and installation holding costs
    non-increasing upstream (stages from the customer upstream); None otherwise."""
    try:
        stages = serial_stages(net)
    except ValueError:
        return None
    lanes = [int(np.flatnonzero(net.lane_destination == n)[0]) for n in stages]
    holding = [float(net.holding_cost[n]) for n in stages]
    if (
        not net.is_backlog[0]
        or net.demand.trace is not None
        or net.demand.season_period > 1
        or net.has_disruptions
        or any(not net.lead_times[e].is_deterministic for e in lanes)
        or np.isfinite(net.lane_capacity).any()
        or np.isfinite(net.supplier_capacity).any()
        or np.isfinite(net.storage_capacity[stages]).any()
        or any(a < b for a, b in zip(holding, holding[1:]))
    ):
        return None
    return {
        "stages": stages,
        "demand": net.demand.pmf(0),
        "lead_times": [net.lead_times[e].max for e in lanes],
        "installation_holding_costs": holding,
        "backlog_cost": float(net.penalty[0]),
    }


def _by_node(net: Network, stages: np.ndarray, values: Sequence[float]) -> np.ndarray:
    """Values given per serial stage (customer first) reordered to the ordering nodes."""
    tree = replenishment_tree(net)
    lookup = {int(n): float(v) for n, v in zip(stages, values)}
    return np.array([lookup[int(n)] for n in tree.nodes])


def computed_parameters(policy_class: type, net: Network) -> Computed:
    """Parameters of ``policy_class`` on ``net`` without simulation: exact where theory
    applies (single backlog node: newsvendor, Zheng–Federgruen; serial backlog: Chen–Zheng),
    else a newsvendor-style start from the mean and variance of the protection-period
    demand (``protection_moments``) for the simulation search of ``baselines.tuning``."""
    return policy_class.computed(net)


def _base_stock_computed(net: Network) -> Computed:
    from baselines import analytic

    inst = single_node(net)
    if isinstance(inst, SingleNode) and inst.backlog:
        # Under backlog the best base-stock level is the newsvendor level also when K > 0:
        # a fixed cost is paid in every period with positive demand, whatever S.
        sol = analytic.optimal_base_stock_backlog(
            inst.pmf, inst.lead_time, inst.holding_cost, inst.penalty
        )
        return Computed(
            {"levels": np.array([float(sol.base_stock_level)])},
            "exact: newsvendor critical fractile",
            exact=True,
        )
    serial = serial_backlog_instance(net)
    if serial is not None:
        stages = serial.pop("stages")
        sol = analytic.serial_echelon_base_stock(**serial)
        return Computed(
            {"levels": _by_node(net, stages, sol.installation_levels)},
            "start: Chen-Zheng (1994) installation levels",
        )
    return Computed({"levels": _newsvendor_start(net)}, "start: normal newsvendor level")


def _echelon_computed(net: Network) -> Computed:
    from baselines import analytic

    stages = serial_stages(net)
    serial = serial_backlog_instance(net)
    if serial is not None:
        serial.pop("stages")
        sol = analytic.serial_echelon_base_stock(**serial)
        return Computed(
            {"levels": _by_node(net, stages, sol.echelon_levels)},
            "exact: Chen-Zheng (1994) echelon levels",
            exact=True,
        )
    tree = replenishment_tree(net)
    lanes = [int(np.flatnonzero(net.lane_destination == n)[0]) for n in stages]
    paths = [lanes[: j + 1] for j in range(len(stages))]  # echelon j: lanes of stages 1..j
    by_stage = normal_level(
        *protection_moments(net, tree, [paths[list(stages).index(n)] for n in tree.nodes]),
        np.full(tree.size, critical_ratio(net, tree)[list(tree.nodes).index(stages[0])]),
    )
    return Computed({"levels": by_stage}, "start: normal newsvendor echelon levels")


def _capped_computed(net: Network) -> Computed:
    tree = replenishment_tree(net)
    mean, var = protection_moments(net, tree, [[] for _ in tree.lanes])  # one period
    levels = _base_stock_computed(net).params["levels"]
    return Computed(
        {"levels": levels, "caps": normal_level(mean, var, 0.9)},
        "start: base-stock level and the 90% quantile of one period's demand",
    )


def _s_S_computed(net: Network) -> Computed:
    from baselines import analytic

    inst = single_node(net)
    if isinstance(inst, SingleNode) and inst.backlog and inst.holding_cost > 0 and inst.penalty > 0:
        s, S, _ = analytic.zheng_federgruen(
            inst.pmf, inst.lead_time, inst.holding_cost, inst.penalty, inst.fixed_cost
        )
        return Computed(
            {"reorder_points": np.array([float(s)]), "order_up_to_levels": np.array([float(S)])},
            "exact: Zheng-Federgruen (1991)",
            exact=True,
        )
    s = np.maximum(_base_stock_computed(net).params["levels"] - 1, 0)
    return Computed(
        {"reorder_points": s, "order_up_to_levels": s + _eoq(net)},
        "start: s = base-stock level - 1, S = s + EOQ",
    )


def _r_Q_computed(net: Network) -> Computed:
    q = _eoq(net)
    r = np.maximum(_base_stock_computed(net).params["levels"] - np.floor(q / 2), 0)
    return Computed(
        {"reorder_points": r, "quantities": q}, "start: Q = EOQ, R = base-stock level - Q/2"
    )


def _constant_computed(net: Network) -> Computed:
    tree = replenishment_tree(net)
    return Computed(
        {"quantities": np.floor(tree.mean_demand)}, "start: mean demand served, rounded down"
    )
