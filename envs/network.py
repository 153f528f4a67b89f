"""The static description of an inventory network, built and validated once from config.

A network is nodes and directed lanes.

The schema of a network description, with every key, type and default, is
``envs.schema.NetworkSpec`` (README, "Network config keys"). Nodes:
- ``kind: supplier`` — an external source with ``capacity`` units per period (inf by default);
  it holds no stock of its own.
- ``kind: stock`` — a stocking node (warehouse, DC, store, micro-fulfillment centre) with
  ``storage_capacity``, ``holding_cost`` per unit per period and, optionally, customer
  ``demand``. Unmet demand is ``backlog`` (charged ``penalty`` per unit per period) or
  ``lost`` (charged ``penalty`` per unit lost).

Lanes:
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

Demand zones (``zones``) are customers apart from stock: each is served through its
fulfilment lanes, tried in the order listed, from a stock node's on-hand or by drop-ship
from a supplier, and delivered ``delivery_time`` periods later. The network's *demand
points* are its demand nodes (node order) then its zones: ``demand_nodes[d]`` is the
stock node whose shelf serves point d first (the node itself, or a zone's first stock
source), so the classical policies see a zone's demand at the node that serves it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from envs.demand import DemandModel, DemandSpec, load_trace
from envs.lead_time import LeadTimeDistribution
from envs.schema import ConfigError, NetworkSpec, SupplierNode, validate_network
from envs.skus import SkuLayout, expand_skus

INF = math.inf
NetworkConfig = NetworkSpec
"""The validated network description (an alias of ``envs.schema.NetworkSpec``)."""


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
class FulfilmentRank:
    """One rank of fulfilment lanes (at most one per zone), as ``serve_zones`` reads it."""

    lanes: np.ndarray  # [L] fulfilment lanes, in zone order
    by_source: LaneIndex  # positions 0..L-1 grouped by source node
    source_one_hot: np.ndarray  # [L, N] float64, 1 at each lane's source


def _one_hot(index: np.ndarray, size: int) -> np.ndarray:
    """[len(index), size] float64 with a 1 at (i, index[i])."""
    out = np.zeros((len(index), size))
    out[np.arange(len(index)), index] = 1.0
    return out


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
    facility_cost: np.ndarray  # [N]
    handling_cost: np.ndarray  # [N]
    fulfilment_unit_cost: np.ndarray  # [F]
    fulfilment_capacity: np.ndarray  # [F]
    # Several SKUs (``envs.skus``; empty for one product): what the copies share.
    node_volume: np.ndarray  # [N]
    site_storage: np.ndarray  # [H] physical nodes' storage, volume units
    lane_volume: np.ndarray  # [E]
    lane_site_capacity: np.ndarray  # [G] physical lanes' capacity, volume units
    truck_ordering: np.ndarray  # [G] fixed cost of a replenishment truck (0 on transfers)
    truck_transfer: np.ndarray  # [G] fixed cost of a transfer truck (0 on replenishment)

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
            facility_cost=f(a["facility_cost"]),
            handling_cost=f(a["handling_cost"]),
            fulfilment_unit_cost=f(a["fulfilment_unit_cost"]),
            fulfilment_capacity=f(a["fulfilment_capacity"]),
            node_volume=f(a["node_volume"]),
            site_storage=f(a["site_storage"]),
            lane_volume=f(a["lane_volume"]),
            lane_site_capacity=f(a["lane_site_capacity"]),
            truck_ordering=f(a["lane_site_fixed_cost"]) * ~a["lane_site_is_transfer"],
            truck_transfer=f(a["lane_site_fixed_cost"]) * a["lane_site_is_transfer"],
        )


@dataclass(frozen=True)
class Network:
    """Validated, array-form network: what ``transition`` reads. Indices: N nodes, E lanes,
    D demand points (demand nodes, then Z zones), F fulfilment lanes of the zones. Built by
    ``build_network``; never mutated."""

    node_names: tuple[str, ...]
    lane_names: tuple[str, ...]
    is_supplier: np.ndarray  # [N] bool
    supplier_capacity: np.ndarray  # [N], inf for non-suppliers
    storage_capacity: np.ndarray  # [N]
    holding_cost: np.ndarray  # [N]
    overflow_cost: np.ndarray  # [N]
    initial_on_hand: np.ndarray  # [N]
    demand_nodes: np.ndarray  # [D] node whose shelf serves each demand point first
    demand_names: tuple[str, ...]  # [D] the demand node's or the zone's name
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
    facility_cost: np.ndarray  # [N] per period, every period
    handling_cost: np.ndarray  # [N] per unit shipped out
    fulfilment_unit_cost: np.ndarray  # [F] transport per unit delivered
    fulfilment_capacity: np.ndarray  # [F] units per period
    fulfilment_zone: np.ndarray  # [F] zone (0..Z-1) of each fulfilment lane, zone-major
    fulfilment_source: np.ndarray  # [F] node that ships
    fulfilment_delivery: np.ndarray  # [F] delivery time, whole periods
    fulfilment_names: tuple[str, ...]  # [F] "source=>zone"
    outages: tuple[tuple[str, int, int, int], ...]
    """Scheduled outages ``(kind, index, start, end)``: node or lane ``index`` is down in
    periods ``start <= t < end`` of each episode."""
    skus: SkuLayout | None = None
    """Several SKUs: which SKU and physical site each node, lane and demand point is
    (``envs.skus``); None for one product."""
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Data that upper layers derive from the network (``derived``), kept with it."""

    def derived(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per network and key: the one cache of what the
        layers above ``envs`` derive from a network (a replenishment tree, demand pmfs,
        torch constants). Data derived within ``envs`` are fields or cached properties."""
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]

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
        """D, the number of demand points (demand nodes and zones)."""
        return len(self.demand_nodes)

    @functools.cached_property
    def num_zones(self) -> int:
        """Z, the demand zones: the last Z demand points."""
        return int(self.fulfilment_zone.max()) + 1 if len(self.fulfilment_zone) else 0

    @property
    def own_demand_points(self) -> int:
        """D - Z: the demand points that are nodes with their own demand (the first ones)."""
        return self.num_demand_nodes - self.num_zones

    @functools.cached_property
    def fulfilment_ranks(self) -> tuple[FulfilmentRank, ...]:
        """The fulfilment lanes by rank: every zone's first lane, then every zone's second
        lane, ... (``envs.transition.serve_zones`` serves them in this order)."""
        rank = np.zeros(len(self.fulfilment_zone), dtype=np.int64)
        for j in range(1, len(rank)):
            same = self.fulfilment_zone[j] == self.fulfilment_zone[j - 1]
            rank[j] = rank[j - 1] + 1 if same else 0
        out = []
        for r in range(int(rank.max()) + 1 if len(rank) else 0):
            lanes = np.flatnonzero(rank == r)
            src = self.fulfilment_source[lanes]
            out.append(
                FulfilmentRank(
                    lanes, LaneIndex.group(src, self.num_nodes), _one_hot(src, self.num_nodes)
                )
            )
        return tuple(out)

    @functools.cached_property
    def fulfilment_zone_one_hot(self) -> np.ndarray:
        """[F, Z]: 1 at each fulfilment lane's zone (sums lanes into zones by a product)."""
        return _one_hot(self.fulfilment_zone, self.num_zones)

    @functools.cached_property
    def node_mean_demand(self) -> np.ndarray:
        """Mean demand per period served first from each node's shelf [N] (a zone's at
        its first stock source)."""
        out = np.zeros(self.num_nodes)
        np.add.at(out, self.demand_nodes, self.demand.mean_demand)
        return out

    @functools.cached_property
    def charges_nodes(self) -> bool:
        """Whether a period's cost has facility, handling or fulfilment terms (zones,
        facility or handling costs); without them those components are zeros."""
        return bool(
            self.num_zones or np.any(self.facility_cost > 0) or np.any(self.handling_cost > 0)
        )

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


def build_network(cfg: Any, prefix: str = "") -> Network:
    """Validate a network description (``NetworkSpec``, dict or OmegaConf; see
    ``envs.schema``) and build its arrays.

    Raises:
        ConfigError: a ``ValueError`` of one line naming the field (e.g.
            ``nodes[2].penalty``, after ``prefix``) and the value.
    """
    spec = validate_network(cfg, prefix)
    sku_layout = None
    if spec.skus:
        spec, sku_layout = expand_skus(spec, prefix)
    nodes, lanes = spec.nodes, [lane for _, lane in spec.all_lanes]
    names = [n.name for n in nodes]
    n_nodes, n_lanes = len(nodes), len(lanes)
    is_supplier = np.array([isinstance(n, SupplierNode) for n in nodes])
    supplier_capacity = np.full(n_nodes, INF)
    storage = np.full(n_nodes, INF)
    holding, overflow, initial = np.zeros(n_nodes), np.zeros(n_nodes), np.zeros(n_nodes)
    facility, handling = np.zeros(n_nodes), np.zeros(n_nodes)
    node_failure = np.array([n.disruption.failure_prob for n in nodes])
    node_recovery = np.array([n.disruption.recovery_prob for n in nodes])
    demand_nodes, is_backlog, penalty, specs = [], [], [], []
    for i, node in enumerate(nodes):
        if isinstance(node, SupplierNode):
            supplier_capacity[i] = node.capacity
            continue
        storage[i] = node.storage_capacity
        holding[i] = node.holding_cost
        overflow[i] = node.overflow_cost
        initial[i] = node.initial_on_hand
        facility[i] = node.facility_cost
        handling[i] = node.handling_cost
        if node.demand is None:
            continue
        demand_nodes.append(i)
        is_backlog.append(node.unmet == "backlog")
        penalty.append(node.penalty)
        specs.append(DemandSpec.of(node.demand))

    demand_names = [names[i] for i in demand_nodes]
    index_of = {name: i for i, name in enumerate(names)}
    ful_zone, ful_source, ful_delivery, ful_cost, ful_capacity = [], [], [], [], []
    for z, zone in enumerate(spec.zones):
        sources = [index_of[lane.source] for lane in zone.fulfilment]
        demand_nodes.append(next(i for i in sources if not is_supplier[i]))
        demand_names.append(zone.name)
        is_backlog.append(zone.unmet == "backlog")
        penalty.append(zone.penalty)
        specs.append(DemandSpec.of(zone.demand))
        for lane, src in zip(zone.fulfilment, sources):
            ful_zone.append(z)
            ful_source.append(src)
            ful_delivery.append(lane.delivery_time)
            ful_cost.append(lane.unit_cost)
            ful_capacity.append(lane.capacity)
    trace = None
    if spec.demand_trace:
        field = f"{prefix}.demand_trace" if prefix else "demand_trace"
        trace = load_trace(spec.demand_trace, demand_names, field)

    source = np.array([index_of[e.source] for e in lanes], dtype=np.int64)
    destination = np.array([index_of[e.destination] for e in lanes], dtype=np.int64)
    is_transfer = np.array([e.kind == "transfer" for e in lanes])
    unit_cost = np.array([e.unit_cost for e in lanes], dtype=float)
    fixed_cost = np.array([e.fixed_cost for e in lanes], dtype=float)
    capacity = np.array([e.capacity for e in lanes], dtype=float)
    in_transit = np.array([e.in_transit_holding for e in lanes], dtype=float)
    lane_failure = np.array([e.disruption.failure_prob for e in lanes], dtype=float)
    lane_recovery = np.array([e.disruption.recovery_prob for e in lanes], dtype=float)
    lead_times = [LeadTimeDistribution.of(e.lead_time) for e in lanes]

    try:
        demand = DemandModel(specs, demand_names, spec.demand_correlation, trace)
    except ConfigError as err:
        raise ConfigError(f"{prefix}.{err}" if prefix else str(err)) from None
    max_order = _default_max_order(
        n_nodes, is_transfer, source, destination, demand_nodes, demand, capacity
    )
    for j, lane in enumerate(lanes):
        if lane.max_order is not None:
            max_order[j] = lane.max_order

    k = max(len(lt.support) for lt in lead_times)
    support = np.zeros((n_lanes, k), dtype=np.int64)
    for j, lt in enumerate(lead_times):
        support[j, : len(lt.support)] = lt.support
        support[j, len(lt.support) :] = lt.support[-1]

    layout, none = sku_layout, np.zeros(0)
    shared = {
        "node_volume": none if layout is None else layout.node_volume,
        "site_storage": none if layout is None else layout.site_storage,
        "lane_volume": none if layout is None else layout.lane_volume,
        "lane_site_capacity": none if layout is None else layout.lane_site_capacity,
        "lane_site_fixed_cost": none if layout is None else layout.lane_site_fixed_cost,
        "lane_site_is_transfer": np.zeros(0, bool)
        if layout is None
        else layout.lane_site_is_transfer,
    }
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
        "facility_cost": facility,
        "handling_cost": handling,
        "fulfilment_unit_cost": np.array(ful_cost, dtype=float),
        "fulfilment_capacity": np.array(ful_capacity, dtype=float),
    }
    outages = [
        (kind, i, o.start, o.end)
        for kind, items in (("node", nodes), ("lane", lanes))
        for i, x in enumerate(items)
        for o in x.disruption.outages
    ]
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
        rationing=spec.rationing,
        node_failure=node_failure,
        node_recovery=node_recovery,
        lane_failure=lane_failure,
        lane_recovery=lane_recovery,
        lanes_out=LaneIndex.group(source, n_nodes),
        lanes_in=LaneIndex.group(destination, n_nodes),
        instant_lanes=np.flatnonzero(support[:, 0] == 0),
        constants={
            np.dtype(t): TypedConstants.build({**arrays, **shared}, np.dtype(t))
            for t in (np.float32, np.float64)
        },
        demand_names=tuple(demand_names),
        fulfilment_zone=np.array(ful_zone, dtype=np.int64),
        fulfilment_source=np.array(ful_source, dtype=np.int64),
        fulfilment_delivery=np.array(ful_delivery, dtype=np.int64),
        fulfilment_names=tuple(
            f"{names[s]}=>{spec.zones[z].name}" for z, s in zip(ful_zone, ful_source)
        ),
        outages=tuple(outages),
        skus=sku_layout,
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
    np.add.at(own, demand_nodes, demand.mean_demand)  # zones can share a node
    through = downstream_mean_demand(source, destination, is_transfer, own)
    out = np.empty(len(source))
    for j in range(len(source)):
        mu = max(through[destination[j]], 1.0)
        out[j] = capacity[j] if np.isfinite(capacity[j]) else np.ceil(4 * mu + 4 * np.sqrt(mu))
    return out
