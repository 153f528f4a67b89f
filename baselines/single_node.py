"""Single-node instances and their exact methods: one stocking node fed by one
uncapacitated lane with a fixed lead time (newsvendor, Zheng–Federgruen, value iteration).

``single_node(net)`` recognises the instance or says why ``net`` is not one; the
value-iteration optimum applies exactly where it recognises one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.network import Network


@dataclass(frozen=True)
class SingleNode:
    """A single stocking node fed by one uncapacitated lane with a fixed lead time: the
    instance of the exact methods (newsvendor, Zheng–Federgruen, value iteration)."""

    node: int
    lane: int
    lead_time: int
    pmf: np.ndarray
    holding_cost: float
    penalty: float
    backlog: bool
    fixed_cost: float
    unit_cost: float


def single_node(net: Network) -> SingleNode | str:
    """The ``SingleNode`` instance of ``net``, or the reason it is not one."""
    if len(net.stock_nodes) != 1 or net.num_lanes != 1:
        return (
            f"{len(net.stock_nodes)} stocking nodes and {net.num_lanes} lanes "
            "(needs one stocking node fed by one lane)"
        )
    lane, node = 0, int(net.stock_nodes[0])
    reasons = []
    if not net.lead_times[lane].is_deterministic:
        reasons.append("a stochastic lead time")
    if net.demand.trace is not None or net.demand.season_period > 1:
        reasons.append("non-stationary demand")
    if net.has_disruptions:
        reasons.append("disruptions")
    if np.isfinite(net.lane_capacity[lane]) or np.isfinite(net.supplier_capacity).any():
        reasons.append("a capacitated lane or supplier")
    if np.isfinite(net.storage_capacity[node]):
        reasons.append("a storage capacity")
    if reasons:
        return ", ".join(reasons)
    return SingleNode(
        node=node,
        lane=lane,
        lead_time=net.lead_times[lane].max,
        pmf=net.demand.pmf(0),
        holding_cost=float(net.holding_cost[node]),
        penalty=float(net.penalty[0]),
        backlog=bool(net.is_backlog[0]),
        fixed_cost=float(net.fixed_cost[lane]),
        unit_cost=float(net.unit_cost[lane]),
    )


def optimal_policy(net: Network, tol: float = 1e-6, max_inventory_position: int | None = None):
    """The optimal policy of a single-node instance by relative value iteration
    (``baselines.value_iteration``; lost sales or backlog, fixed and unit costs).

    Raises ValueError when ``net`` is not a single stocking node fed by one uncapacitated
    lane with a deterministic lead time and stationary demand.
    """
    from baselines.value_iteration import OptimalPolicy, solve_value_iteration

    inst = single_node(net)
    if isinstance(inst, str):
        raise ValueError(f"optimal: value iteration needs a single-node network, got {inst}")
    solution = solve_value_iteration(
        inst.pmf,
        inst.lead_time,
        inst.holding_cost,
        inst.penalty,
        lost_sales=not inst.backlog,
        fixed_cost=inst.fixed_cost,
        unit_cost=inst.unit_cost,
        tol=tol,
        max_inventory_position=max_inventory_position,
    )
    return OptimalPolicy(solution, inst.node, inst.lane)
