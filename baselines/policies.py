"""Classical replenishment policies, batched: one call orders for B envs at once.

Every policy here answers ``act(state) -> quantities [B, E]`` (the ``Policy`` protocol of
``baselines.evaluation``) with array code over the batch, no loop over envs.

Which lane a node orders on. A *stocking node* that has at least one replenishment lane
into it is an *ordering node*; it places its whole order on its **primary lane**, the first
replenishment lane into it listed in the network config (list a node's preferred source
first). Other replenishment lanes into the node are left idle by these policies; transfer
lanes are driven by a transfer rule (``baselines.transfers``). Every parameter is a vector
with one entry per ordering node, in the network's node order (``ReplenishmentTree.names``);
a scalar is broadcast. The primary lanes form a tree: each ordering node *serves* the demand
nodes below it along primary lanes, and the heuristics size its stock on that demand.

Inventory positions (Zipkin 2000, Section 9.4; Axsäter 2015, Section 5.3):

- installation inventory position of a node = on-hand + in transit to it − its backlog;
- echelon inventory position of stage j of a serial system = on-hand + in transit of
  stages 1..j − the backlog at stage 1.

Parameters may also be given as a batch ``[B, S]`` (one vector per env): the tuner
(``baselines.tuning``) evaluates many candidates in one simulation that way.

Policies: ``BaseStock``, ``EchelonBaseStock``, ``CappedBaseStock``, ``SS`` ((s, S)),
``RQ`` ((R, Q)), ``ConstantOrder``, ``Myopic``, and ``optimal_policy`` (value iteration,
single node). Their parameters come from ``baselines.tuning`` (exact where theory applies,
simulation-optimised otherwise) through ``baselines.registry.make_policy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from baselines.policy_base import Policy
from envs.network import Network
from envs.transition import State

__all__ = [
    "BaseStock",
    "CappedBaseStock",
    "ConstantOrder",
    "EchelonBaseStock",
    "Myopic",
    "NodePolicy",
    "RQ",
    "ReplenishmentTree",
    "SS",
    "SingleNode",
    "optimal_policy",
    "replenishment_tree",
    "serial_stages",
    "single_node",
]


# --------------------------------------------------------------------------------------------
# the structure every node policy shares
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplenishmentTree:
    """Ordering nodes, their primary lanes and the demand each one serves.

    Attributes:
        nodes: node index of each ordering node [S] (network node order).
        names: their names.
        lanes: primary (first listed) replenishment lane of each ordering node [S].
        served: ``served[s, d]`` is 1 when demand node d lies below node s along primary
            lanes (itself included) [S, D].
        delay: periods from node s's stock to demand node d's shelf along primary lanes
            (sum of the rounded mean lead times of the lanes below s) [S, D], -1 if not served.
        mean_demand: mean demand per period served through each ordering node [S].
        penalty: demand-weighted penalty of the demand nodes each node serves [S].
    """

    nodes: np.ndarray
    names: tuple[str, ...]
    lanes: np.ndarray
    served: np.ndarray
    delay: np.ndarray
    mean_demand: np.ndarray
    penalty: np.ndarray

    @property
    def size(self) -> int:
        return len(self.nodes)


_TREES: dict[int, tuple[Network, ReplenishmentTree]] = {}


def replenishment_tree(net: Network) -> ReplenishmentTree:
    """The ``ReplenishmentTree`` of a network (cached by identity: networks are immutable,
    and hold arrays, so they are not hashable)."""
    hit = _TREES.get(id(net))
    if hit is not None and hit[0] is net:
        return hit[1]
    if len(_TREES) > 64:
        _TREES.clear()
    tree = _build_tree(net)
    _TREES[id(net)] = (net, tree)
    return tree


def _build_tree(net: Network) -> ReplenishmentTree:
    nodes, lanes = [], []
    for n in net.stock_nodes:
        inbound = np.flatnonzero((net.lane_destination == n) & ~net.is_transfer)
        if len(inbound):
            nodes.append(int(n))
            lanes.append(int(inbound[0]))
    if not nodes:
        raise ValueError("network: no stocking node has a replenishment lane to order on")
    index = {n: s for s, n in enumerate(nodes)}
    primary = dict(zip(nodes, lanes))
    served = np.zeros((len(nodes), net.num_demand_nodes))
    delay = np.full((len(nodes), net.num_demand_nodes), -1, dtype=np.int64)
    for d, node in enumerate(net.demand_nodes):
        node, lag = int(node), 0
        while node in primary:
            served[index[node], d] = 1
            delay[index[node], d] = lag
            lane = primary[node]
            lag += int(round(net.lead_times[lane].mean))
            node = int(net.lane_source[lane])
    mean = net.demand.mean_demand
    through = served @ mean
    weighted = np.divide(
        served @ (mean * net.penalty), through, out=np.zeros_like(through), where=through > 0
    )
    return ReplenishmentTree(
        nodes=np.array(nodes),
        names=tuple(net.node_names[n] for n in nodes),
        lanes=np.array(lanes),
        served=served,
        delay=delay,
        mean_demand=through,
        penalty=np.where(through > 0, weighted, 0.0),
    )


def parameter_vector(
    name: str, value: Any, tree: ReplenishmentTree, *, minimum: float = 0.0
) -> np.ndarray:
    """Validate a per-ordering-node parameter: a scalar, a vector [S] or a batch [B, S].

    Raises ValueError naming the parameter and the value (wrong length, NaN, below
    ``minimum``).
    """
    if value is None:
        raise ValueError(
            f"{name}: required (one value per ordering node {list(tree.names)}); "
            "baselines.registry.make_policy computes it when left null"
        )
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {value!r}") from None
    if arr.ndim > 2 or (arr.ndim >= 1 and arr.shape[-1] not in (1, tree.size)):
        raise ValueError(
            f"{name}: expected a scalar or one value per ordering node ({tree.size}: "
            f"{list(tree.names)}), got {np.asarray(value).tolist()!r}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite, got {np.asarray(value).tolist()!r}")
    if np.any(arr < minimum):
        raise ValueError(f"{name}: must be >= {minimum:g}, got {np.asarray(value).tolist()!r}")
    return arr if arr.ndim == 2 else np.broadcast_to(arr, (tree.size,)).copy()


def as_list(values: np.ndarray) -> list:
    """JSON-ready list, whole numbers as ints."""
    arr = np.asarray(values)
    if arr.size and np.all(arr == np.round(arr)):
        return np.round(arr).astype(int).tolist()
    return arr.tolist()


class NodePolicy(Policy):
    """Base of the node policies: an order per ordering node on its primary lane.

    Subclasses name their parameter vectors in ``PARAMS`` (name -> lower bound) and
    implement ``order(state) -> [B, S]``.
    """

    PARAMS: ClassVar[dict[str, float]] = {}

    def __init__(self, net: Network):
        self.net = net
        self.tree = replenishment_tree(net)

    def _vector(self, name: str, value: Any) -> np.ndarray:
        return parameter_vector(name, value, self.tree, minimum=self.PARAMS[name])

    def position(self, state: State) -> np.ndarray:
        """Installation inventory position of each ordering node [B, S]."""
        return state.inventory_position(self.net)[:, self.tree.nodes]

    def order(self, state: State) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def act(self, state: State) -> np.ndarray:
        """Order quantity per lane [B, E]: each node's order on its primary lane."""
        out = np.zeros((state.num_envs, self.net.num_lanes))
        out[:, self.tree.lanes] = self.order(state)
        return out

    def describe(self) -> dict:
        """The policy's parameters as a plain, JSON-ready dict."""
        out: dict[str, Any] = {"nodes": list(self.tree.names)}
        for name in self.PARAMS:
            out[name] = as_list(getattr(self, name))
        return out

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters computed without simulation: exact where theory applies, else a
        start for the simulation search (``baselines.tuning``)."""
        return Computed({}, "nothing to compute", exact=True)

    @classmethod
    def feasible(cls, params: dict[str, np.ndarray]) -> np.ndarray:
        """Which candidate parameter rows [C, S] satisfy the policy's constraints [C]."""
        first = next(iter(params.values()))
        return np.ones(first.shape[0], dtype=bool)


# --------------------------------------------------------------------------------------------
# the policies
# --------------------------------------------------------------------------------------------


class BaseStock(NodePolicy):
    """Installation base-stock (order-up-to) policy: every period each ordering node orders
    up to its base-stock level S on its installation inventory position,
    ``max(S − IP, 0)`` (Zipkin 2000, Section 6.2; stockpyl's ``BaseStockPolicy``).

    Args:
        net: the network.
        levels: base-stock level per ordering node (>= 0).
    """

    PARAMS = {"levels": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _base_stock_computed(net)

    def __init__(self, net: Network, levels: Any = None):
        super().__init__(net)
        self.levels = self._vector("levels", levels)

    def order(self, state: State) -> np.ndarray:
        return np.maximum(self.levels - self.position(state), 0.0)


class CappedBaseStock(NodePolicy):
    """Capped base-stock: order up to S but never more than a cap per period,
    ``min(max(S − IP, 0), cap)`` (Johansen & Thorstenson 2008; Xin 2021, "Understanding
    the performance of capped base-stock policies in lost-sales inventory models", OR).

    Args:
        net: the network.
        levels: base-stock level per ordering node (>= 0).
        caps: most units ordered per period per ordering node (>= 0).
    """

    PARAMS = {"levels": 0.0, "caps": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _capped_computed(net)

    def __init__(self, net: Network, levels: Any = None, caps: Any = None):
        super().__init__(net)
        self.levels = self._vector("levels", levels)
        self.caps = self._vector("caps", caps)

    def order(self, state: State) -> np.ndarray:
        return np.minimum(np.maximum(self.levels - self.position(state), 0.0), self.caps)


class SS(NodePolicy):
    """(s, S) policy: when the inventory position is at or below the reorder point s, order
    up to S; otherwise order nothing (Scarf 1960; Zheng & Federgruen 1991).

    Args:
        net: the network.
        reorder_points: s per ordering node (>= 0).
        order_up_to_levels: S per ordering node (>= s).
    """

    PARAMS = {"reorder_points": 0.0, "order_up_to_levels": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _s_S_computed(net)

    def __init__(self, net: Network, reorder_points: Any = None, order_up_to_levels: Any = None):
        super().__init__(net)
        self.reorder_points = self._vector("reorder_points", reorder_points)
        self.order_up_to_levels = self._vector("order_up_to_levels", order_up_to_levels)
        if not np.all(self.feasible(self._rows())):
            raise ValueError(
                "reorder_points: s must be <= S (order_up_to_levels), got s="
                f"{as_list(self.reorder_points)} and S={as_list(self.order_up_to_levels)}"
            )

    def _rows(self) -> dict[str, np.ndarray]:
        return {name: np.atleast_2d(getattr(self, name)) for name in self.PARAMS}

    @classmethod
    def feasible(cls, params: dict[str, np.ndarray]) -> np.ndarray:
        return np.all(params["reorder_points"] <= params["order_up_to_levels"], axis=-1)

    def order(self, state: State) -> np.ndarray:
        inventory_position = self.position(state)
        return np.where(
            inventory_position <= self.reorder_points,
            self.order_up_to_levels - inventory_position,
            0.0,
        )


class RQ(NodePolicy):
    """(R, Q) policy with orders in multiples of Q: when the inventory position is below R,
    order ``Q * ceil((R − IP) / Q)``, the smallest multiple of Q that brings it back to at
    least R, so the position after ordering lies in [R, R + Q) (Hadley & Whitin 1963;
    Axsäter 2015, Section 4.2, whose reorder point at-or-below R' is this rule with
    R = R' + 1). With Q = 1 it is base-stock with level R; with one order per trigger it is
    also called (s, Q).

    Args:
        net: the network.
        reorder_points: R per ordering node (>= 0).
        quantities: batch size Q per ordering node (>= 1).
    """

    PARAMS = {"reorder_points": 0.0, "quantities": 1.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _r_Q_computed(net)

    def __init__(self, net: Network, reorder_points: Any = None, quantities: Any = None):
        super().__init__(net)
        self.reorder_points = self._vector("reorder_points", reorder_points)
        self.quantities = self._vector("quantities", quantities)

    def order(self, state: State) -> np.ndarray:
        shortfall = np.maximum(self.reorder_points - self.position(state), 0.0)
        return self.quantities * np.ceil(shortfall / self.quantities)


class ConstantOrder(NodePolicy):
    """Constant-order policy: the same quantity every period, whatever the state (Reiman
    2004; Xin & Goldberg 2016 show it is asymptotically optimal for lost sales as the lead
    time grows).

    Args:
        net: the network.
        quantities: units ordered per period per ordering node (>= 0).
    """

    PARAMS = {"quantities": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _constant_computed(net)

    def __init__(self, net: Network, quantities: Any = None):
        super().__init__(net)
        self.quantities = self._vector("quantities", quantities)

    def order(self, state: State) -> np.ndarray:
        return np.broadcast_to(self.quantities, (state.num_envs, self.tree.size)).copy()


def serial_stages(net: Network) -> np.ndarray:
    """Stocking nodes of a serial network from the customer-facing stage 1 upstream.

    A serial network: one supplier, a chain of stocking nodes each fed by exactly one
    replenishment lane from the next one upstream, demand only at the last one, no
    transfer lanes. Raises ValueError ("echelon base-stock needs a serial network, got
    ...") otherwise.
    """

    def fail(why: str) -> ValueError:
        return ValueError(f"echelon base-stock needs a serial network, got {why}")

    if net.is_transfer.any():
        raise fail(f"{int(net.is_transfer.sum())} transfer lanes")
    if net.num_demand_nodes != 1:
        names = [net.node_names[n] for n in net.demand_nodes]
        raise fail(f"{net.num_demand_nodes} demand nodes {names}")
    for n in net.stock_nodes:
        inbound = int(np.sum(net.lane_destination == n))
        outbound = int(np.sum(net.lane_source == n))
        if inbound != 1 or outbound > 1:
            raise fail(
                f"node {net.node_names[n]!r} with {inbound} inbound and {outbound} outbound lanes"
            )
    stages = [int(net.demand_nodes[0])]
    if np.any(net.lane_source == stages[0]):
        raise fail(f"demand node {net.node_names[stages[0]]!r} ships downstream")
    while True:
        source = int(net.lane_source[np.flatnonzero(net.lane_destination == stages[-1])[0]])
        if net.is_supplier[source]:
            break
        stages.append(source)
    if len(stages) != len(net.stock_nodes):
        raise fail(f"stocking nodes off the chain to {net.node_names[stages[0]]!r}")
    return np.array(stages)


class EchelonBaseStock(NodePolicy):
    """Echelon base-stock policy of a serial system (Clark & Scarf 1960): stage j orders up
    to its echelon level on its echelon inventory position, ``max(S_j − echelon IP_j, 0)``,
    echelon IP_j = on-hand + in transit of stages 1..j − backlog at stage 1. Optimal for
    serial systems with backlog; the levels come from Chen & Zheng (1994)
    (``baselines.analytic.serial_echelon_base_stock``). A shortfall upstream is simply asked
    for again next period (the echelon position stays low), which plays the role of the
    textbook's internal backorders.

    Args:
        net: a serial network (else ValueError).
        levels: echelon base-stock level per ordering node (network node order, >= 0).
    """

    PARAMS = {"levels": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _echelon_computed(net)

    def __init__(self, net: Network, levels: Any = None):
        super().__init__(net)
        stages = serial_stages(net)
        self.levels = self._vector("levels", levels)
        # echelon[n, s] = 1 when node n belongs to the echelon of ordering node s.
        stage_of = {int(n): j for j, n in enumerate(stages)}
        self.echelon = np.zeros((net.num_nodes, self.tree.size))
        for s, node in enumerate(self.tree.nodes):
            self.echelon[stages[: stage_of[int(node)] + 1], s] = 1.0
        self.stage_one = int(stages[0])

    def position(self, state: State) -> np.ndarray:
        """Echelon inventory position of each ordering node [B, S]."""
        stock = state.on_hand + state.in_transit() @ self.net.destination_incidence
        return stock @ self.echelon - state.backlog[:, [self.stage_one]]

    def order(self, state: State) -> np.ndarray:
        return np.maximum(self.levels - self.position(state), 0.0)


# --------------------------------------------------------------------------------------------
# demand over a protection period (shared by the myopic policy, the tuner and the oracle)
# --------------------------------------------------------------------------------------------


_PMFS: dict[int, tuple[Network, list[list[np.ndarray]]]] = {}


def demand_pmfs(net: Network, d: int) -> list[np.ndarray]:
    """pmf of demand node d's demand in each phase of its season (a trace: its empirical
    pmf, one phase). Cached per network."""
    hit = _PMFS.get(id(net))
    if hit is None or hit[0] is not net:
        if len(_PMFS) > 64:
            _PMFS.clear()
        tables = []
        for node in range(net.num_demand_nodes):
            if net.demand.trace is not None:
                counts = np.bincount(net.demand.trace[:, node].astype(np.int64))
                tables.append([counts / counts.sum()])
            else:
                period = net.demand.specs[node].season_period
                tables.append([net.demand.pmf(node, phase) for phase in range(period)])
        hit = _PMFS[id(net)] = (net, tables)
    return hit[1][d]


def served_pmf(net: Network, tree: ReplenishmentTree, s: int, phase: int) -> np.ndarray:
    """pmf of the total demand node s serves in one period (demand nodes independent)."""
    out = np.ones(1)
    for d in np.flatnonzero(tree.served[s]):
        pmfs = demand_pmfs(net, d)
        out = np.convolve(out, pmfs[phase % len(pmfs)])
    return out


def protection_pmf(
    net: Network,
    tree: ReplenishmentTree,
    s: int,
    phase: int,
    lead_time_support: Sequence[int],
    lead_time_probs: Sequence[float],
) -> np.ndarray:
    """pmf of the demand node s serves over the protection period of L + 1 periods starting
    at ``phase`` (L random: a mixture over its support)."""
    total = np.ones(1)
    cumulative = []
    for k in range(max(lead_time_support) + 1):
        total = np.convolve(total, served_pmf(net, tree, s, phase + k))
        cumulative.append(total)
    out = np.zeros(len(cumulative[-1]))
    for lag, p in zip(lead_time_support, lead_time_probs):
        out[: len(cumulative[lag])] += p * cumulative[lag]
    return out


def critical_ratio(net: Network, tree: ReplenishmentTree) -> np.ndarray:
    """Newsvendor critical fractile p / (p + h) of each ordering node [S]: its own holding
    cost against the demand-weighted penalty of the customers it serves."""
    h = net.holding_cost[tree.nodes]
    p = tree.penalty
    return np.divide(p, p + h, out=np.full(tree.size, 0.5), where=(p + h) > 0)


class Myopic(NodePolicy):
    """Myopic (one-period newsvendor) policy: each period, order up to the critical fractile
    p / (p + h) of the demand over the protection period — the lead time L + 1 periods
    starting now, with this period's seasonal demand pmfs — on the pipeline-adjusted
    (installation) inventory position. Optimal for backlog with stationary demand (Veinott
    1965); under seasonality it tracks the season. The levels are computed from the demand
    pmfs, a table over the season cycle; there is nothing to tune.
    """

    def __init__(self, net: Network):
        super().__init__(net)
        tree = self.tree
        ratio = critical_ratio(net, tree)
        cycle = net.demand.season_period if net.demand.trace is None else 1
        self.levels = np.zeros((cycle, tree.size))
        for s, lane in enumerate(tree.lanes):
            lt = net.lead_times[lane]
            for phase in range(cycle):
                pmf = protection_pmf(net, tree, s, phase, lt.support, lt.probs)
                self.levels[phase, s] = np.searchsorted(np.cumsum(pmf), ratio[s] - 1e-12)

    def order(self, state: State) -> np.ndarray:
        levels = self.levels[state.period % len(self.levels)]
        return np.maximum(levels - self.position(state), 0.0)

    def describe(self) -> dict:
        out = {"nodes": list(self.tree.names)}
        out["levels"] = (
            as_list(self.levels[0])
            if len(self.levels) == 1
            else {
                "min": as_list(self.levels.min(0)),
                "max": as_list(self.levels.max(0)),
            }
        )
        return out


# --------------------------------------------------------------------------------------------
# single-node instances: exact methods
# --------------------------------------------------------------------------------------------


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


def normal_level(mean: np.ndarray, var: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Newsvendor level under a normal approximation, ``mean + z_ratio * sd``, rounded, >= 0
    (Silver, Pyke & Thomas 2017, Section 6.7)."""
    z = stats.norm.ppf(np.clip(ratio, 1e-6, 1 - 1e-6))
    return np.maximum(np.round(mean + z * np.sqrt(var)), 0.0)


# --------------------------------------------------------------------------------------------
# computed parameters: exact where theory applies, a newsvendor-style start otherwise
# --------------------------------------------------------------------------------------------


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


def protection_moments(
    net: Network, tree: ReplenishmentTree, lanes: Sequence[Sequence[int]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the demand each ordering node serves over its protection period,
    the lead times of ``lanes[s]`` (default: its primary lane) plus one period:
    mean = (E[L] + 1) mu, var = (E[L] + 1) sigma^2 + mu^2 Var[L] (random L; Silver, Pyke &
    Thomas 2017, Section 6.10). Per-period mean and variance are taken over the season
    cycle (a seasonal node's swing counts as variance)."""
    mu, var = np.zeros(tree.size), np.zeros(tree.size)
    for d in range(net.num_demand_nodes):
        pmfs = demand_pmfs(net, d)
        k = [np.arange(len(p)) for p in pmfs]
        m = float(np.mean([p @ x for p, x in zip(pmfs, k)]))
        second = float(np.mean([p @ x**2 for p, x in zip(pmfs, k)]))
        mu += tree.served[:, d] * m
        var += tree.served[:, d] * (second - m**2)
    lanes = [[lane] for lane in tree.lanes] if lanes is None else lanes
    lead_mean = np.array([sum(net.lead_times[e].mean for e in path) for path in lanes])
    lead_var = np.array(
        [
            sum(
                float(np.dot(net.lead_times[e].probs, np.square(net.lead_times[e].support)))
                - net.lead_times[e].mean ** 2
                for e in path
            )
            for path in lanes
        ]
    )
    periods = lead_mean + 1
    return periods * mu, periods * var + mu**2 * lead_var


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
