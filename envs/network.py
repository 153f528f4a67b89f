"""The static description of an inventory network, built and validated once from config.

A network is nodes and directed lanes.

Nodes (``NodeConfig``):
- ``kind: supplier`` — an external source with ``capacity`` units per period (inf by default);
  it holds no stock of its own.
- ``kind: stock`` — a stocking node (warehouse, DC, store, micro-fulfillment centre) with
  ``storage_capacity``, ``holding_cost`` per unit per period and, optionally, customer
  ``demand``. Unmet demand is ``backlog`` (charged ``penalty`` per unit per period) or
  ``lost`` (charged ``penalty`` per unit lost).

Lanes (``LaneConfig``):
- ``kind: replenishment`` — supplier or upstream node to downstream node;
- ``kind: transfer`` — a lateral transfer between stocking nodes of the same echelon.
Each lane has a lead-time distribution, ``unit_cost`` and ``fixed_cost`` per shipment,
a per-period ``capacity`` and an ``in_transit_holding`` cost per unit per period in transit.

When a node cannot ship everything asked of it, it rations (``rationing``):
- ``proportional`` (default): each lane gets floor(request * available / total request);
  the whole units left over go one each to the lanes still short, in lane order;
- ``priority``: lanes are served in the order they are listed.

Units arriving at a node beyond its ``storage_capacity`` are disposed of (counted in
``flows["overflow"]`` and charged the node's ``overflow_cost`` per unit).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from envs.demand import DemandModel, load_trace, parse_demand
from envs.lead_time import LeadTimeDistribution, parse_lead_time

INF = math.inf


@dataclass
class DisruptionConfig:
    """An up/down Markov process of a node or lane (off when ``failure_prob`` is 0)."""

    failure_prob: float = 0.0
    """Probability that an up node/lane goes down at the start of a period."""
    recovery_prob: float = 1.0
    """Probability that a down node/lane comes back up at the start of a period."""


@dataclass
class NodeConfig:
    """One node of the network (see module docstring)."""

    name: str = "???"
    kind: str = "stock"
    """``supplier`` (external source) or ``stock`` (stocking node)."""
    capacity: float = INF
    """Supplier only: units it can ship per period."""
    storage_capacity: float = INF
    """Most units the node can hold on hand."""
    holding_cost: float = 0.0
    """Cost per unit on hand at the end of a period."""
    initial_on_hand: float = 0.0
    """On-hand stock at the start of an episode."""
    demand: Any = None
    """Customer demand, e.g. ``{dist: poisson, mean: 5}`` (see envs.demand); None for none."""
    unmet: str = "backlog"
    """``backlog`` or ``lost``: what happens to demand that cannot be served."""
    penalty: float | None = None
    """Backlog cost per unit per period, or lost-sales penalty per unit lost."""
    overflow_cost: float = 0.0
    """Cost per unit disposed of because it arrived beyond ``storage_capacity``."""
    disruption: DisruptionConfig = field(default_factory=DisruptionConfig)


@dataclass
class LaneConfig:
    """One directed lane (see module docstring)."""

    source: str = "???"
    destination: str = "???"
    kind: str = "replenishment"
    """``replenishment`` or ``transfer`` (lateral, between nodes of one echelon)."""
    lead_time: Any = 0
    """Whole periods: an int, or ``{support: [...], probs: [...]}``."""
    unit_cost: float = 0.0
    fixed_cost: float = 0.0
    """Charged in every period in which the lane ships a positive quantity."""
    capacity: float = INF
    """Most units shipped per period; larger actions are clipped (and counted)."""
    in_transit_holding: float = 0.0
    """Cost per unit per period while in transit."""
    max_order: float | None = None
    """Upper end of the action range for this lane (default: capacity if finite, else
    derived from the mean demand served through the destination)."""
    disruption: DisruptionConfig = field(default_factory=DisruptionConfig)


@dataclass
class NetworkConfig:
    """Nodes, lanes and network-wide options; mirrored by ``env.network`` in conf/env/."""

    nodes: list[NodeConfig] = field(default_factory=list)
    lanes: list[LaneConfig] = field(default_factory=list)
    transfer_lanes: list[LaneConfig] = field(default_factory=list)
    """Lateral transfer lanes, listed apart so a preset can add them to another's lanes."""
    rationing: str = "proportional"
    demand_correlation: Any = None
    """None, a scalar (equicorrelation) or a D x D matrix across demand nodes."""
    demand_trace: str | None = None
    """Path of a CSV whose columns are the demand nodes' names; replayed cyclically."""


@dataclass(frozen=True)
class LaneIndex:
    """Lanes grouped by node in compressed sparse row form: node n's lanes are
    ``lanes[ptr[n]:ptr[n + 1]]``, in lane order, so sums over a node's lanes have a fixed
    order whatever the batch size."""

    ptr: np.ndarray  # [N + 1] int64
    lanes: np.ndarray  # [E] int64

    @staticmethod
    def group(node_of_lane: np.ndarray, num_nodes: int) -> LaneIndex:
        """Group lanes by ``node_of_lane`` [E] (their source or destination)."""
        lanes = np.argsort(node_of_lane, kind="stable").astype(np.int64)
        ptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(node_of_lane, minlength=num_nodes), out=ptr[1:])
        return LaneIndex(ptr, lanes)


@dataclass(frozen=True)
class TypedConstants:
    """Network constants in one float dtype (a state's), built once with the network."""

    lane_capacity: np.ndarray  # [E]
    supplier_capacity: np.ndarray  # [N]
    storage_capacity: np.ndarray  # [N]
    holding_cost: np.ndarray  # [N]
    overflow_cost: np.ndarray  # [N]
    backlog_penalty: np.ndarray  # [D], 0 at lost-sales nodes
    lost_penalty: np.ndarray  # [D], 0 at backlog nodes
    is_backlog: np.ndarray  # [D] as 0/1
    fixed_cost: np.ndarray  # [E]
    unit_cost: np.ndarray  # [E]
    is_replenishment: np.ndarray  # [E] as 0/1
    is_transfer: np.ndarray  # [E] as 0/1
    in_transit_holding: np.ndarray  # [E]

    @staticmethod
    def build(net_arrays: dict[str, np.ndarray], dtype: np.dtype) -> TypedConstants:
        def f(x):
            return np.asarray(x, dtype=dtype)

        a = net_arrays
        return TypedConstants(
            lane_capacity=f(a["lane_capacity"]),
            supplier_capacity=f(a["supplier_capacity"]),
            storage_capacity=f(a["storage_capacity"]),
            holding_cost=f(a["holding_cost"]),
            overflow_cost=f(a["overflow_cost"]),
            backlog_penalty=f(a["penalty"] * a["is_backlog"]),
            lost_penalty=f(a["penalty"] * ~a["is_backlog"]),
            is_backlog=f(a["is_backlog"]),
            fixed_cost=f(a["fixed_cost"]),
            unit_cost=f(a["unit_cost"]),
            is_replenishment=f(~a["is_transfer"]),
            is_transfer=f(a["is_transfer"]),
            in_transit_holding=f(a["in_transit_holding"]),
        )


@dataclass(frozen=True)
class Network:
    """Validated, array-form network: what ``transition`` reads. Indices: N nodes, E lanes,
    D demand nodes. Built by ``build_network``; never mutated."""

    node_names: tuple[str, ...]
    lane_names: tuple[str, ...]
    is_supplier: np.ndarray  # [N] bool
    supplier_capacity: np.ndarray  # [N], inf for non-suppliers
    storage_capacity: np.ndarray  # [N]
    holding_cost: np.ndarray  # [N]
    overflow_cost: np.ndarray  # [N]
    initial_on_hand: np.ndarray  # [N]
    demand_nodes: np.ndarray  # [D] node index of each demand node
    is_backlog: np.ndarray  # [D] bool: backlog (True) or lost sales (False)
    penalty: np.ndarray  # [D]
    demand: DemandModel
    lane_source: np.ndarray  # [E]
    lane_destination: np.ndarray  # [E]
    is_transfer: np.ndarray  # [E] bool
    unit_cost: np.ndarray  # [E]
    fixed_cost: np.ndarray  # [E]
    lane_capacity: np.ndarray  # [E]
    in_transit_holding: np.ndarray  # [E]
    max_order: np.ndarray  # [E] action range upper end
    lead_times: tuple[LeadTimeDistribution, ...]
    lead_time_support: np.ndarray  # [E, K]
    max_lead_time: int  # longest lead time of any lane
    source_incidence: sparse.csr_array  # [E, N] one-hot of lane source (sparse)
    destination_incidence: sparse.csr_array  # [E, N] one-hot of lane destination (sparse)
    rationing: str
    node_failure: np.ndarray  # [N]
    node_recovery: np.ndarray  # [N]
    lane_failure: np.ndarray  # [E]
    lane_recovery: np.ndarray  # [E]
    lanes_out: LaneIndex
    """Lanes leaving each node, in lane order (the order rationing serves them)."""
    lanes_in: LaneIndex
    """Lanes arriving at each node, in lane order."""
    instant_lanes: np.ndarray  # lanes whose lead time can be 0
    constants: dict[np.dtype, TypedConstants]
    """The cost and capacity arrays in float32 and float64 (see ``typed``)."""

    def typed(self, dtype: np.dtype) -> TypedConstants:
        """Cost and capacity arrays in ``dtype`` (float32 or float64), so that products
        with a state of that dtype do not upcast."""
        try:
            return self.constants[np.dtype(dtype)]
        except KeyError:
            raise ValueError(f"dtype: must be float32 or float64, got {dtype!r}") from None

    @property
    def num_nodes(self) -> int:
        return len(self.node_names)

    @property
    def num_lanes(self) -> int:
        return len(self.lane_names)

    @property
    def pipeline_length(self) -> int:
        """Slots of the pipeline at a decision: a shipment with lead time L is at most L - 1
        periods from arriving (it lands at the start of t + L), so max_lead_time - 1 (>= 1)."""
        return max(1, self.max_lead_time - 1)

    @property
    def num_demand_nodes(self) -> int:
        return len(self.demand_nodes)

    @property
    def stock_nodes(self) -> np.ndarray:
        return np.flatnonzero(~self.is_supplier)

    @functools.cached_property
    def has_disruptions(self) -> bool:
        return bool(np.any(self.node_failure > 0) or np.any(self.lane_failure > 0))

    @functools.cached_property
    def stochastic_lanes(self) -> np.ndarray:
        return np.flatnonzero([not lt.is_deterministic for lt in self.lead_times])

    def node_index(self, name: str) -> int:
        return self.node_names.index(name)


def _as_dict(cfg: Any) -> dict:
    """Plain dict from a dataclass, an OmegaConf node or a mapping."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if hasattr(cfg, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(cfg)
    return dict(cfg)


def _number(value: Any, field_name: str, *, minimum: float = 0.0, allow_inf: bool = False) -> float:
    if value is None or isinstance(value, bool):
        raise ValueError(f"{field_name}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field_name}: expected a number, got {value!r}") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{field_name}: must be finite, got {value!r}")
    if x < minimum:
        raise ValueError(f"{field_name}: must be >= {minimum}, got {value!r}")
    return x


def _probability(value: Any, field_name: str) -> float:
    x = _number(value, field_name)
    if x > 1:
        raise ValueError(f"{field_name}: a probability must be in [0, 1], got {value!r}")
    return x


def _check_acyclic(names: list[str], lanes: list[dict]) -> None:
    """Reject cycles of replenishment lanes (Kahn's algorithm)."""
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for lane in lanes:
        if lane.get("kind", "replenishment") == "replenishment":
            succ[lane["source"]].append(lane["destination"])
            indeg[lane["destination"]] += 1
    ready = [n for n in names if indeg[n] == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if seen < len(names):
        cyclic = [n for n in names if indeg[n] > 0]
        raise ValueError(f"lanes: replenishment lanes form a cycle through nodes {cyclic}")


def build_network(cfg: Any) -> Network:
    """Validate a network config (``NetworkConfig``, dict or OmegaConf) and build its arrays.

    Raises:
        ValueError: naming the field (e.g. ``nodes[2].penalty``) and the value, for unknown
            or duplicate nodes, cycles of replenishment lanes, negative costs or capacities,
            empty or negative lead-time supports, lost-sales nodes without a penalty,
            bad demand specs or traces.
    """
    cfg = _as_dict(cfg)
    nodes = [_as_dict(n) for n in cfg.get("nodes") or []]
    lanes = [_as_dict(e) for e in cfg.get("lanes") or []]
    lanes += [{**_as_dict(e), "kind": "transfer"} for e in cfg.get("transfer_lanes") or []]
    if not nodes:
        raise ValueError("nodes: a network needs at least one node")
    if not lanes:
        raise ValueError("lanes: a network needs at least one lane")

    names = []
    for i, node in enumerate(nodes):
        name = node.get("name")
        if not isinstance(name, str) or not name or name == "???":
            raise ValueError(f"nodes[{i}].name: every node needs a name, got {name!r}")
        if name in names:
            raise ValueError(f"nodes[{i}].name: duplicate node name {name!r}")
        names.append(name)
        kind = node.get("kind", "stock")
        if kind not in ("supplier", "stock"):
            raise ValueError(f"nodes[{i}].kind: must be 'supplier' or 'stock', got {kind!r}")

    index_of = {name: i for i, name in enumerate(names)}
    for j, lane in enumerate(lanes):
        for end in ("source", "destination"):
            if lane.get(end) not in index_of:
                raise ValueError(f"lanes[{j}].{end}: unknown node {lane.get(end)!r}")
        if lane["source"] == lane["destination"]:
            raise ValueError(f"lanes[{j}]: a lane from {lane['source']!r} to itself")
        kind = lane.get("kind", "replenishment")
        if kind not in ("replenishment", "transfer"):
            raise ValueError(
                f"lanes[{j}].kind: must be 'replenishment' or 'transfer', got {kind!r}"
            )
        if nodes[index_of[lane["destination"]]].get("kind", "stock") == "supplier":
            raise ValueError(f"lanes[{j}].destination: {lane['destination']!r} is a supplier")
        if kind == "transfer" and nodes[index_of[lane["source"]]].get("kind") == "supplier":
            raise ValueError(f"lanes[{j}].source: a transfer lane cannot start at a supplier")
    _check_acyclic(names, lanes)

    n_nodes, n_lanes = len(nodes), len(lanes)
    is_supplier = np.array([n.get("kind", "stock") == "supplier" for n in nodes])
    supplier_capacity = np.full(n_nodes, INF)
    storage = np.full(n_nodes, INF)
    holding = np.zeros(n_nodes)
    overflow = np.zeros(n_nodes)
    initial = np.zeros(n_nodes)
    node_failure, node_recovery = np.zeros(n_nodes), np.ones(n_nodes)
    demand_nodes, is_backlog, penalty, specs = [], [], [], []
    for i, node in enumerate(nodes):
        f = f"nodes[{i}]"
        dis = node.get("disruption") or {}
        node_failure[i] = _probability(dis.get("failure_prob", 0.0), f"{f}.disruption.failure_prob")
        node_recovery[i] = _probability(
            dis.get("recovery_prob", 1.0), f"{f}.disruption.recovery_prob"
        )
        if is_supplier[i]:
            supplier_capacity[i] = _number(
                node.get("capacity", INF), f"{f}.capacity", allow_inf=True
            )
            if node.get("demand") is not None:
                raise ValueError(f"{f}.demand: a supplier cannot have customer demand")
            continue
        storage[i] = _number(
            node.get("storage_capacity", INF), f"{f}.storage_capacity", allow_inf=True
        )
        holding[i] = _number(node.get("holding_cost", 0.0), f"{f}.holding_cost")
        overflow[i] = _number(node.get("overflow_cost", 0.0), f"{f}.overflow_cost")
        initial[i] = _number(node.get("initial_on_hand", 0.0), f"{f}.initial_on_hand")
        if not initial[i].is_integer() or initial[i] > storage[i]:
            raise ValueError(
                f"{f}.initial_on_hand: must be whole and <= storage_capacity, got {initial[i]}"
            )
        if node.get("demand") is None:
            continue
        unmet = node.get("unmet", "backlog")
        if unmet not in ("backlog", "lost"):
            raise ValueError(f"{f}.unmet: must be 'backlog' or 'lost', got {unmet!r}")
        if node.get("penalty") is None:
            raise ValueError(
                f"{f}.penalty: demand node {names[i]!r} with unmet={unmet!r} needs a penalty"
            )
        demand_nodes.append(i)
        is_backlog.append(unmet == "backlog")
        penalty.append(_number(node["penalty"], f"{f}.penalty"))
        specs.append(parse_demand(node["demand"], f"{f}.demand"))
    if not demand_nodes:
        raise ValueError("nodes: no node has customer demand")

    trace = None
    demand_names = [names[i] for i in demand_nodes]
    if cfg.get("demand_trace"):
        trace = load_trace(str(cfg["demand_trace"]), demand_names)
    rationing = cfg.get("rationing", "proportional")
    if rationing not in ("proportional", "priority"):
        raise ValueError(f"rationing: must be 'proportional' or 'priority', got {rationing!r}")

    source = np.array([index_of[e["source"]] for e in lanes], dtype=np.int64)
    destination = np.array([index_of[e["destination"]] for e in lanes], dtype=np.int64)
    is_transfer = np.array([e.get("kind", "replenishment") == "transfer" for e in lanes])
    unit_cost, fixed_cost = np.zeros(n_lanes), np.zeros(n_lanes)
    capacity, in_transit = np.full(n_lanes, INF), np.zeros(n_lanes)
    lane_failure, lane_recovery = np.zeros(n_lanes), np.ones(n_lanes)
    lead_times = []
    for j, lane in enumerate(lanes):
        f = f"lanes[{j}]"
        unit_cost[j] = _number(lane.get("unit_cost", 0.0), f"{f}.unit_cost")
        fixed_cost[j] = _number(lane.get("fixed_cost", 0.0), f"{f}.fixed_cost")
        capacity[j] = _number(lane.get("capacity", INF), f"{f}.capacity", allow_inf=True)
        in_transit[j] = _number(lane.get("in_transit_holding", 0.0), f"{f}.in_transit_holding")
        lead_times.append(parse_lead_time(lane.get("lead_time", 0), f"{f}.lead_time"))
        dis = lane.get("disruption") or {}
        lane_failure[j] = _probability(dis.get("failure_prob", 0.0), f"{f}.disruption.failure_prob")
        lane_recovery[j] = _probability(
            dis.get("recovery_prob", 1.0), f"{f}.disruption.recovery_prob"
        )

    demand = DemandModel(specs, demand_names, cfg.get("demand_correlation"), trace)
    max_order = _default_max_order(
        n_nodes, is_transfer, source, destination, demand_nodes, demand, capacity
    )
    for j, lane in enumerate(lanes):
        if lane.get("max_order") is not None:
            max_order[j] = _number(lane["max_order"], f"lanes[{j}].max_order")

    k = max(len(lt.support) for lt in lead_times)
    support = np.zeros((n_lanes, k), dtype=np.int64)
    for j, lt in enumerate(lead_times):
        support[j, : len(lt.support)] = lt.support
        support[j, len(lt.support) :] = lt.support[-1]

    arrays = {
        "is_supplier": is_supplier,
        "supplier_capacity": supplier_capacity,
        "storage_capacity": storage,
        "holding_cost": holding,
        "overflow_cost": overflow,
        "initial_on_hand": initial,
        "demand_nodes": np.array(demand_nodes, dtype=np.int64),
        "is_backlog": np.array(is_backlog, dtype=bool),
        "penalty": np.array(penalty, dtype=float),
        "lane_source": source,
        "lane_destination": destination,
        "is_transfer": is_transfer,
        "unit_cost": unit_cost,
        "fixed_cost": fixed_cost,
        "lane_capacity": capacity,
        "in_transit_holding": in_transit,
    }
    return Network(
        node_names=tuple(names),
        lane_names=tuple(f"{names[s]}->{names[d]}" for s, d in zip(source, destination)),
        **arrays,
        demand=demand,
        max_order=max_order,
        lead_times=tuple(lead_times),
        lead_time_support=support,
        max_lead_time=max(lt.max for lt in lead_times),
        source_incidence=_one_hot(source, n_nodes),
        destination_incidence=_one_hot(destination, n_nodes),
        rationing=rationing,
        node_failure=node_failure,
        node_recovery=node_recovery,
        lane_failure=lane_failure,
        lane_recovery=lane_recovery,
        lanes_out=LaneIndex.group(source, n_nodes),
        lanes_in=LaneIndex.group(destination, n_nodes),
        instant_lanes=np.flatnonzero(support[:, 0] == 0),
        constants={
            np.dtype(t): TypedConstants.build(arrays, np.dtype(t)) for t in (np.float32, np.float64)
        },
    )


def _one_hot(node_of_lane: np.ndarray, num_nodes: int) -> sparse.csr_array:
    """Sparse [E, N] incidence: row e is 1 at ``node_of_lane[e]`` (memory O(E), not E * N)."""
    e = len(node_of_lane)
    return sparse.csr_array((np.ones(e), node_of_lane, np.arange(e + 1)), shape=(e, num_nodes))


def upstream_first(
    source: np.ndarray, destination: np.ndarray, is_transfer: np.ndarray, num_nodes: int
) -> list[int]:
    """Nodes in topological order of the replenishment lanes (every lane's source before
    its destination; Kahn's algorithm, O(N + E)). Transfer lanes are ignored."""
    indeg = np.zeros(num_nodes, dtype=np.int64)
    succ: list[list[int]] = [[] for _ in range(num_nodes)]
    for s, d, t in zip(source.tolist(), destination.tolist(), is_transfer.tolist()):
        if not t:
            succ[s].append(d)
            indeg[d] += 1
    order = [n for n in range(num_nodes) if indeg[n] == 0]
    for n in order:  # grows while it is read
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                order.append(m)
    return order


def downstream_mean_demand(
    source: np.ndarray, destination: np.ndarray, is_transfer: np.ndarray, net_demand: np.ndarray
) -> np.ndarray:
    """Mean demand per period served through each node: its own plus that of every node it
    reaches by replenishment lanes, split evenly among a node's replenishment sources."""
    n = len(net_demand)
    replenish = ~np.asarray(is_transfer, dtype=bool)
    n_src = np.bincount(destination[replenish], minlength=n)
    out_lanes: list[list[int]] = [[] for _ in range(n)]
    for j in np.flatnonzero(replenish).tolist():
        out_lanes[source[j]].append(j)  # lane order within a node
    through = net_demand.astype(float).copy()
    # Downstream nodes first, so each node adds its destinations' final values in lane order.
    for s in reversed(upstream_first(source, destination, is_transfer, n)):
        for j in out_lanes[s]:
            d = destination[j]
            through[s] += through[d] / max(n_src[d], 1)
    return through


def _default_max_order(
    n_nodes, is_transfer, source, destination, demand_nodes, demand, capacity
) -> np.ndarray:
    """Action range per lane: capacity if finite, else a generous multiple of the mean
    demand served through the destination (4 mean + 4 standard deviations, Poisson-like)."""
    own = np.zeros(n_nodes)
    own[demand_nodes] = demand.mean_demand
    through = downstream_mean_demand(source, destination, is_transfer, own)
    out = np.empty(len(source))
    for j in range(len(source)):
        mu = max(through[destination[j]], 1.0)
        out[j] = capacity[j] if np.isfinite(capacity[j]) else np.ceil(4 * mu + 4 * np.sqrt(mu))
    return out
