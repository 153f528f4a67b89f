"""One period of the inventory network, for a batch of B envs at once.

``transition(net, state, action, noise)`` reads top to bottom in the event order
of the design (docs/architecture.md, "Event order in a period"):

1. Arrivals — already applied: a ``State`` is always the decision-time state of
   period t, i.e. after the arrivals due at the start of t (step 5 below of the
   previous call), so a policy sees the stock it can use.
2. Decision — the action's shipments leave their sources' on-hand at once
   (rationed when a source is short, see ``envs.network``); a shipment with lead
   time L arrives at the start of period t+L, before that period's demand; L=0
   lands now.
3. Demand — served from on-hand; backlog (served first) or lost sales per node; then
   the demand zones through their fulfilment lanes (every zone's first lane, then its
   second, ...; backlog first, oldest first), from stock nodes' on-hand or by drop-ship
   from suppliers (``serve_zones``).
4. Costs — on the end-of-period state.
5. Advance — period t+1 begins: its arrivals land, disruptions switch, t += 1.

There is no Python loop over envs, nodes or lanes: every step is array code over
the leading batch axis. Sums over a node's lanes (``node_sum``) and an env's costs
(``env_sum``) add in index order, so env i's numbers are the same bits whatever the batch
size, and cost O(B * (N + E)) (no dense incidence products). This module is the readable
reference; ``envs.compiled`` fuses the same step into one compiled pass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from envs.network import Network, TypedConstants
from envs.noise import Noise


@dataclass
class State:
    """Decision-time state of B envs (every array has the batch axis first).

    Attributes:
        on_hand: stock on hand per node [B, N] (always 0 at suppliers).
        backlog: backlogged customer demand per node [B, N].
        pipeline: in transit per lane by arrival: ``pipeline[:, e, k]`` arrives at the start
            of period t+1+k [B, E, max(1, Lmax - 1)] (Lmax = the longest lead time).
        period: period index t since the episode began [B].
        node_up: whether each node can ship [B, N].
        lane_up: whether each lane can carry new shipments [B, E].
        last_demand: demand observed in the previous period per demand point [B, D].
        zone_backlog: backlog of each zone by age [B, Z, 2]: ``[..., 0]`` arose in the
            previous period, ``[..., 1]`` is older (the order lead time needs the age);
            None for a network without zones. ``backlog`` is the demand nodes' own.
    """

    on_hand: np.ndarray
    backlog: np.ndarray
    pipeline: np.ndarray
    period: np.ndarray
    node_up: np.ndarray
    lane_up: np.ndarray
    last_demand: np.ndarray
    zone_backlog: np.ndarray | None = None

    @property
    def num_envs(self) -> int:
        return self.on_hand.shape[0]

    def in_transit(self) -> np.ndarray:
        """Units in transit on each lane [B, E]."""
        return self.pipeline.sum(axis=-1)

    def inventory_position(self, net: Network) -> np.ndarray:
        """On-hand + in transit to the node − backlog, per node [B, N] (installation); a
        zone's backlog counts at its first stock source."""
        arriving = node_sum(self.in_transit(), net.lane_destination, net.num_nodes)
        owed = self.backlog
        if self.zone_backlog is not None:
            owed = owed.copy()
            zone_nodes = net.demand_nodes[net.own_demand_points :]
            np.add.at(owed, (slice(None), zone_nodes), self.zone_backlog.sum(-1))
        return self.on_hand - owed + arriving

    def copy(self) -> State:
        return State(**{f.name: _copy(getattr(self, f.name)) for f in fields(self)})

    def select(self, mask: np.ndarray, other: State) -> State:
        """Per env, ``other`` where ``mask`` [B] is True, else self (the autoreset select)."""
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a is None:
                out[f.name] = None
                continue
            m = mask.reshape((-1,) + (1,) * (a.ndim - 1))
            out[f.name] = np.where(m, b, a)
        return State(**out)


def _copy(x: np.ndarray | None) -> np.ndarray | None:
    return None if x is None else x.copy()


@dataclass
class Costs:
    """Cost of one period per env [B], by component (see ``total``).

    ``facility`` (open nodes' fixed cost per period), ``handling`` (per unit shipped out of
    a stock node) and ``fulfilment`` (transport per unit delivered to a zone) are zeros
    where a network has none; they are added last, so a network without them totals the
    same bits as before they existed.
    """

    holding: np.ndarray
    in_transit: np.ndarray
    backlog: np.ndarray
    lost_sales: np.ndarray
    overflow: np.ndarray
    ordering: np.ndarray
    transfer: np.ndarray
    facility: np.ndarray | None = None
    handling: np.ndarray | None = None
    fulfilment: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("facility", "handling", "fulfilment"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros_like(self.holding))

    @functools.cached_property
    def total(self) -> np.ndarray:
        """Sum of the components (computed once, on first use)."""
        return (
            self.holding
            + self.in_transit
            + self.backlog
            + self.lost_sales
            + self.overflow
            + self.ordering
            + self.transfer
            + self.facility
            + self.handling
            + self.fulfilment
        )

    def as_dict(self) -> dict[str, np.ndarray]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["total"] = self.total
        return out


@dataclass
class Flows:
    """What moved in one period.

    Attributes:
        requested: quantity asked per lane after clipping to [0, capacity] [B, E].
        clipped: units removed from the action by the lane capacity [B, E].
        shipped: quantity that left its source per lane (after rationing) [B, E].
        received: units that landed from each lane during this call [B, E] (lead time 0
            shipments now, plus the arrivals at the start of the next period).
        overflow: units disposed of at each node beyond its storage capacity [B, N].
        demand: customer demand per demand point (demand nodes, then zones) [B, D].
        sales: units served to customers, backlog included [B, D].
        filled: units of this period's demand served at once (for the fill rate) [B, D].
        lost: demand lost [B, D].
        backlog: backlog at the end of the period [B, D].
        fulfilled: units shipped to customers on each zone's fulfilment lane [B, F]
            (None without zones).
        zone_lead_time: units delivered to each zone by order lead time — the same
            period, the next, later (age of the order + delivery time) [B, Z, 3]
            (None without zones).
        held: on-hand at the end of the period, the units charged holding [B, N] (with
            several SKUs only, for each SKU's direct cost; None otherwise).
    """

    requested: np.ndarray
    clipped: np.ndarray
    shipped: np.ndarray
    received: np.ndarray
    overflow: np.ndarray
    demand: np.ndarray
    sales: np.ndarray
    filled: np.ndarray
    lost: np.ndarray
    backlog: np.ndarray
    fulfilled: np.ndarray | None = None
    zone_lead_time: np.ndarray | None = None
    held: np.ndarray | None = None


def initial_state(net: Network, num_envs: int, dtype: np.dtype = np.float64) -> State:
    """The state at the start of an episode: initial stock, nothing in transit, all up.

    ``dtype`` is the float type of quantities and costs: float64 (default, for evaluation)
    or float32 (half the memory traffic; whole units stay exact up to 2**24).
    """
    b, n, e = num_envs, net.num_nodes, net.num_lanes
    return State(
        on_hand=np.tile(net.initial_on_hand.astype(dtype), (b, 1)),
        backlog=np.zeros((b, n), dtype=dtype),
        pipeline=np.zeros((b, e, net.pipeline_length), dtype=dtype),
        period=np.zeros(b, dtype=np.int64),
        node_up=np.ones((b, n), dtype=bool),
        lane_up=np.ones((b, e), dtype=bool),
        last_demand=np.zeros((b, net.num_demand_nodes), dtype=dtype),
        zone_backlog=np.zeros((b, net.num_zones, 2), dtype=dtype) if net.num_zones else None,
    )


def check_action(
    net: Network, action: Any, dtype: np.dtype = np.float64, num_envs: int | None = None
) -> np.ndarray:
    """An action of one entry per lane and env [B, E] as floats; raises ``ValueError`` for
    non-numbers, a wrong shape (``num_envs`` rows when given) or a NaN/inf. The one action
    check of the simulator: ``ActionMap.check`` and both backends' transitions call it."""
    try:
        action = np.asarray(action, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"action: expected numbers, got {action!r}") from None
    rows = "num_envs" if num_envs is None else num_envs
    if action.ndim != 2 or action.shape[1] != net.num_lanes or num_envs not in (None, len(action)):
        raise ValueError(
            f"action: expected shape [{rows}, {net.num_lanes}] (num_envs x one entry per lane "
            f"{list(net.lane_names)}), got {list(action.shape)}"
        )
    if not np.logical_and.reduce(np.isfinite(action), axis=None):
        env, lane = np.argwhere(~np.isfinite(action))[0]
        raise ValueError(
            f"action: non-finite value {float(action[env, lane])!r} for lane "
            f"{net.lane_names[lane]!r} in env {env}"
        )
    return action


def node_sum(x: np.ndarray, node_of_lane: np.ndarray, num_nodes: int) -> np.ndarray:
    """Per node, the sum of ``x`` [B, E] over the lanes with ``node_of_lane[e] == n`` -> [B, N].

    ``np.add.at`` adds unbuffered in index order: each node's lanes in lane order, from 0,
    so the sums do not depend on the batch size (a BLAS product's order does).
    """
    b = x.shape[0]
    out = np.zeros((b, num_nodes), dtype=x.dtype)
    np.add.at(out, (slice(None), node_of_lane), x)
    return out


def env_sum(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per env, the sum of ``x * weight`` over every axis but the first ([B, ...] -> [B]),
    added sequentially in C order (``cumsum`` is sequential; ``sum`` and ``@`` are not),
    so env i's costs are the same bits in any batch."""
    return np.cumsum((x * weight).reshape(x.shape[0], -1), axis=1)[:, -1]


def _allocate_in_lane_order(net: Network, request: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Serve each source's lanes in lane order until its available units run out.

    ``request`` [B, E], ``available`` [B, N] -> allocation [B, E].
    """
    # Units asked by earlier lanes of the same source: an exclusive running sum over each
    # source's lanes (whole units, so the running-sum differences are exact).
    index = net.lanes_out
    by_source = request[:, index.lanes]
    running = np.cumsum(by_source, axis=1)
    first = index.ptr[net.lane_source[index.lanes]]  # position of the lane's source's first lane
    start = np.where(first > 0, running[:, np.maximum(first - 1, 0)], 0.0)
    before = np.empty_like(request)
    before[:, index.lanes] = running - by_source - start
    return np.clip(available[:, net.lane_source] - before, 0.0, request)


def ration(net: Network, request: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Shipments per lane [B, E] given requests [B, E] and units available per node [B, N].

    ``proportional``: floor(request * available / total request) per lane, then the whole
    units left go one each to the lanes still short, in lane order. ``priority``: lane order.
    """
    src, n = net.lane_source, net.num_nodes
    total = node_sum(request, src, n)
    short = total > available
    if not short.any():
        return request
    if net.rationing == "priority":
        rationed = _allocate_in_lane_order(net, request, available)
    else:
        # floor(request * available / total) with the product taken first: exact for whole
        # units, where request * (available / total) can fall just below a whole number
        # (22 * 30/44).
        served = np.minimum(available, total)
        base = np.floor(request * served[:, src] / np.maximum(total, 1e-12)[:, src])
        left = available - node_sum(base, src, n)
        rationed = base + _allocate_in_lane_order(net, np.minimum(request - base, 1.0), left)
    # Sources that are not short ship every request (per env and source, so env i's
    # shipments do not depend on whether another env is short).
    return np.where(short[:, src], rationed, request)


def _receive(
    net: Network, k: TypedConstants, on_hand: np.ndarray, inbound: np.ndarray
) -> np.ndarray:
    """Add inbound units per node [B, N] to ``on_hand`` in place; return units overflowing.

    With several SKUs the SKUs' copies of a node share its storage, in volume units: when
    the volume arriving exceeds the room left, each copy keeps floor(arriving x room /
    volume arriving) (``envs.skus``)."""
    if net.skus is None:
        on_hand += inbound
        overflow = np.maximum(on_hand - k.storage_capacity, 0.0)
        on_hand -= overflow
        return overflow
    site, sites = net.skus.node_site, len(net.skus.site_names)
    room = np.maximum(k.site_storage - node_sum(on_hand * k.node_volume, site, sites), 0.0)
    arriving = node_sum(inbound * k.node_volume, site, sites)
    full = arriving > room
    # floor(inbound * room / arriving) with the product first, as in ``ration``; an
    # unlimited site is never full (its room is set to 0 where it cannot be read).
    room = np.where(np.isfinite(room), room, 0.0)
    kept = np.floor(inbound * room[:, site] / np.maximum(arriving, 1e-12)[:, site])
    kept = np.where(full[:, site], kept, inbound)
    on_hand += kept
    return inbound - kept


def share_lane_capacity(net: Network, requested: np.ndarray) -> np.ndarray:
    """With several SKUs, the SKUs' copies of a lane share its capacity in volume units:
    when they ask more volume than it carries, each gets floor(quantity x capacity /
    volume asked) (``envs.skus``). ``requested`` [B, E] -> [B, E]."""
    k = net.typed(requested.dtype)
    site, sites = net.skus.lane_site, len(net.skus.lane_site_names)
    capacity = k.lane_site_capacity
    asked = node_sum(requested * k.lane_volume, site, sites)
    over = asked > capacity
    if not over.any():
        return requested
    finite = np.where(np.isfinite(capacity), capacity, 0.0)
    shared = np.floor(requested * finite[site] / np.maximum(asked, 1e-12)[:, site])
    return np.where(over[:, site], shared, requested)


def truck_fixed_cost(net: Network, shipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With several SKUs, a lane's fixed cost is paid once per period in which any SKU
    ships on it: (ordering, transfer) per env [B]."""
    k = net.typed(shipped.dtype)
    sites = len(net.skus.lane_site_names)
    ships = (node_sum(shipped, net.skus.lane_site, sites) > 0).astype(shipped.dtype)
    return env_sum(ships, k.truck_ordering), env_sum(ships, k.truck_transfer)


def transition(
    net: Network, state: State, action: np.ndarray, noise: Noise
) -> tuple[State, Costs, Flows]:
    """Advance B envs by one period.

    Args:
        net: the validated network.
        state: decision-time state of period t (not modified).
        action: order/transfer quantity per lane [B, E]; negative values are clipped to 0,
            values above a lane's capacity are clipped (and counted in ``flows.clipped``),
            non-integers are rounded; NaN or inf raises ``ValueError``.
        noise: this period's demand, lead-time and disruption draws.

    Returns:
        ``(next_state, costs, flows)``: the decision-time state of period t+1, the cost of
        period t by component, and what moved.
    """
    b, dtype = state.num_envs, state.on_hand.dtype
    n, e = net.num_nodes, net.num_lanes
    k = net.typed(dtype)
    action = check_action(net, action, dtype)

    # 2. Decision: clip, ration at short sources, ship.
    wanted = np.rint(np.maximum(action, 0.0))
    requested = np.minimum(wanted, k.lane_capacity)
    if net.skus is not None:
        requested = share_lane_capacity(net, requested)
    clipped = wanted - requested
    available = np.where(net.is_supplier, k.supplier_capacity, state.on_hand)
    node_ok = lane_ok = None
    if net.has_disruptions or net.outages:
        node_ok, lane_ok = up_now(net, state)
        requested = requested * lane_ok
        # where, not a product: an infinite supplier that is down has 0 (inf * 0 is NaN).
        available = np.where(node_ok, available, 0.0)
    shipped = ration(net, requested, available)

    # Suppliers hold no stock: only stocking nodes' on-hand is debited.
    on_hand = state.on_hand - np.where(net.is_supplier, 0.0, node_sum(shipped, net.lane_source, n))
    lead_time = noise.lead_time
    # Lead time 0 lands at once (only lanes whose support includes 0 can do that).
    landed_now = np.zeros_like(shipped)
    now = net.instant_lanes
    landed_now[:, now] = shipped[:, now] * (lead_time[:, now] == 0)
    overflow = _receive(net, k, on_hand, node_sum(landed_now, net.lane_destination, n))
    # Advance the pipeline by one period while copying it: shifting the flat array by one
    # element moves every lane's slot k+1 to slot k (each lane's last slot receives the next
    # lane's head, then is zeroed). ``pipeline`` is then relative to period t+1.
    pipeline = np.empty(state.pipeline.shape, dtype=dtype)
    pipeline.reshape(-1)[:-1] = state.pipeline.reshape(-1)[1:]
    pipeline[:, :, -1] = 0.0
    arriving = state.pipeline[:, :, 0] + shipped * (lead_time == 1)
    # Each (env, lane) puts its shipment in exactly one slot, so fancy += is safe.
    slot = np.maximum(lead_time - 2, 0)
    lmax = net.pipeline_length
    base = (np.arange(b)[:, None] * e + np.arange(e)) * lmax  # flat index of each lane's slot 0
    pipeline.reshape(-1)[base + slot] += shipped * (lead_time >= 2)

    # 3. Demand: backlog first, then this period's demand, from on-hand; demand nodes
    # first (their own shelf), then zones (through their fulfilment lanes).
    d0 = net.own_demand_points
    dn = net.demand_nodes[:d0]
    demand = noise.demand.astype(dtype, copy=False)
    stock = on_hand[:, dn]
    old_backlog = state.backlog[:, dn]
    asked = demand[:, :d0] + old_backlog
    sales = np.minimum(stock, asked)
    shortfall = asked - sales
    on_hand[:, dn] = stock - sales
    backlog = np.zeros_like(state.backlog)
    backlog_d = shortfall * k.is_backlog[:d0]
    backlog[:, dn] = backlog_d
    lost = shortfall - backlog_d
    filled = np.minimum(demand[:, :d0], np.maximum(stock - old_backlog, 0.0))
    zones = None
    if net.num_zones:
        # Suppliers drop-ship what their capacity has left after this period's orders.
        shipped_by = node_sum(shipped, net.lane_source, n)
        supplier_left = np.where(net.is_supplier, k.supplier_capacity - shipped_by, 0.0)
        zones = serve_zones(
            net, state.zone_backlog, demand[:, d0:], on_hand, supplier_left, node_ok
        )
        sales = np.concatenate([sales, zones.sales], axis=1)
        filled = np.concatenate([filled, zones.filled], axis=1)
        lost = np.concatenate([lost, zones.lost], axis=1)
        backlog_d = np.concatenate([backlog_d, zones.backlog.sum(-1)], axis=1)

    # 4. Costs on the end-of-period state, each summed over nodes or lanes in index order.
    # Units in transit at the end of period t: the advanced pipeline (lane by lane, slot by
    # slot) plus what lands at t+1.
    in_transit_cost = env_sum(pipeline, k.in_transit_holding[:, None]) + env_sum(
        arriving, k.in_transit_holding
    )
    lane_cost = (shipped > 0) * k.fixed_cost + shipped * k.unit_cost
    extra = {}
    if net.charges_nodes:
        # Units shipped out of each node: on lanes, to its own customers, to zones.
        outbound = node_sum(shipped, net.lane_source, n)
        np.add.at(outbound, (slice(None), dn), sales[:, :d0])
        if zones is not None:
            np.add.at(outbound, (slice(None), net.fulfilment_source), zones.fulfilled)
            extra["fulfilment"] = env_sum(zones.fulfilled, k.fulfilment_unit_cost)
        # Suppliers have no handling cost (a stock node's attribute): 0 there.
        extra["handling"] = env_sum(outbound, k.handling_cost)
        extra["facility"] = env_sum(np.ones((b, n), dtype=dtype), k.facility_cost)
    ordering = env_sum(lane_cost, k.is_replenishment)
    transfer = env_sum(lane_cost, k.is_transfer)
    if net.skus is not None:
        truck_ordering, truck_transfer = truck_fixed_cost(net, shipped)
        ordering, transfer = ordering + truck_ordering, transfer + truck_transfer
    held = on_hand.copy() if net.skus is not None else None
    costs = Costs(
        holding=env_sum(on_hand, k.holding_cost),
        in_transit=in_transit_cost,
        backlog=env_sum(backlog_d, k.backlog_penalty),
        lost_sales=env_sum(lost, k.lost_penalty),
        overflow=np.zeros(b, dtype=dtype),  # set below, once next period's arrivals landed
        ordering=ordering,
        transfer=transfer,
        **extra,
    )

    # 5. Advance to period t+1: arrivals due at its start land; disruptions switch.
    # Units that do not fit are disposed of on arrival and charged in this call.
    overflow += _receive(net, k, on_hand, node_sum(arriving, net.lane_destination, n))
    costs.overflow = env_sum(overflow, k.overflow_cost)
    node_up, lane_up = state.node_up, state.lane_up
    if noise.node_disruption is not None:
        node_up = np.where(
            node_up,
            noise.node_disruption >= net.node_failure,
            noise.node_disruption < net.node_recovery,
        )
        lane_up = np.where(
            lane_up,
            noise.lane_disruption >= net.lane_failure,
            noise.lane_disruption < net.lane_recovery,
        )
    next_state = State(
        on_hand=on_hand,
        backlog=backlog,
        pipeline=pipeline,
        period=state.period + 1,
        node_up=node_up,
        lane_up=lane_up,
        last_demand=demand,
        zone_backlog=None if zones is None else zones.backlog,
    )
    flows = Flows(
        requested=requested,
        clipped=clipped,
        shipped=shipped,
        received=landed_now + arriving,
        overflow=overflow,
        demand=demand,
        sales=sales,
        filled=filled,
        lost=lost,
        backlog=backlog_d,
        fulfilled=None if zones is None else zones.fulfilled,
        zone_lead_time=None if zones is None else zones.lead_time,
        held=held,
    )
    return next_state, costs, flows


def up_now(net: Network, state: State) -> tuple[np.ndarray, np.ndarray]:
    """Which nodes [B, N] and lanes [B, E] can ship in this period: up in the random
    disruption process and not in a scheduled outage (``start <= period < end``)."""
    node_ok, lane_ok = state.node_up, state.lane_up
    if net.outages:
        node_ok, lane_ok = node_ok.copy(), lane_ok.copy()
        t = state.period
        for kind, index, start, end in net.outages:
            target = node_ok if kind == "node" else lane_ok
            target[:, index] &= ~((t >= start) & (t < end))
    return node_ok, lane_ok


@dataclass
class ZoneFlows:
    """What ``serve_zones`` did in one period (Z zones, F fulfilment lanes)."""

    fulfilled: np.ndarray  # [B, F] units shipped on each fulfilment lane
    sales: np.ndarray  # [B, Z] units delivered, backlog included
    filled: np.ndarray  # [B, Z] units of this period's demand served at once
    lost: np.ndarray  # [B, Z]
    backlog: np.ndarray  # [B, Z, 2] by age: arose now, older (the next state's)
    lead_time: np.ndarray  # [B, Z, 3] units by order lead time: 0, 1, 2+ periods


def serve_zones(
    net: Network,
    zone_backlog: np.ndarray,
    demand: np.ndarray,
    on_hand: np.ndarray,
    supplier_left: np.ndarray,
    node_ok: np.ndarray | None,
) -> ZoneFlows:
    """Serve each zone's backlog (oldest first) and this period's demand [B, Z] through
    its fulfilment lanes: every zone's first lane, then every zone's second lane, and so
    on (nearest first for everyone before any fallback); lanes of one rank that share a
    source are served in zone order.

    A lane ships min(what the zone still asks, its capacity, what its source has left):
    a stock node's on-hand or a supplier's capacity left (drop-ship); a node that is down
    ships nothing. ``on_hand`` and ``supplier_left`` [B, N] are debited in place. A unit's
    order lead time is its age (periods in backlog) plus the lane's delivery time.
    """
    k = net.typed(on_hand.dtype)
    b, z = demand.shape
    new, old = zone_backlog[:, :, 0].copy(), zone_backlog[:, :, 1].copy()
    now = demand.copy()
    fulfilled = np.zeros((b, len(net.fulfilment_zone)), dtype=on_hand.dtype)
    filled = np.zeros_like(now)
    lead_time = np.zeros((b, z, 3), dtype=on_hand.dtype)
    for rank in net.fulfilment_ranks:
        lanes, by_source = rank.lanes, rank.by_source
        zone, src = net.fulfilment_zone[lanes], net.fulfilment_source[lanes]
        asked = old[:, zone] + new[:, zone] + now[:, zone]
        request = np.minimum(asked, k.fulfilment_capacity[lanes])
        shelf = np.where(net.is_supplier, supplier_left, on_hand)
        if node_ok is not None:
            shelf = np.where(node_ok, shelf, 0.0)
        # Units asked by earlier lanes of this rank from the same source (zone order): an
        # exclusive running sum over each source's lanes, as in priority rationing.
        ordered = request[:, by_source.lanes]
        running = np.cumsum(ordered, axis=1)
        first = by_source.ptr[src[by_source.lanes]]
        start = np.where(first > 0, running[:, np.maximum(first - 1, 0)], 0.0)
        before = np.empty_like(request)
        before[:, by_source.lanes] = running - ordered - start
        take = np.clip(shelf[:, src] - before, 0.0, request)
        # Whole units: a product with the lanes' one-hot sources sums them exactly, in
        # any order (np.add.at is several times slower).
        debit = (take @ rank.source_one_hot).astype(take.dtype, copy=False)
        on_hand -= np.where(net.is_supplier, 0.0, debit)
        supplier_left -= np.where(net.is_supplier, debit, 0.0)
        # Each zone has at most one lane per rank, so the zone-indexed updates are safe.
        from_old = np.minimum(take, old[:, zone])
        from_new = np.minimum(take - from_old, new[:, zone])
        from_now = take - from_old - from_new
        old[:, zone] -= from_old
        new[:, zone] -= from_new
        now[:, zone] -= from_now
        fulfilled[:, lanes] = take
        filled[:, zone] += from_now
        delivery = net.fulfilment_delivery[lanes]
        lead_time[:, zone, np.minimum(delivery, 2)] += from_now
        lead_time[:, zone, np.minimum(delivery + 1, 2)] += from_new
        lead_time[:, zone, 2] += from_old
    is_backlog = k.is_backlog[net.own_demand_points :]
    arose = now * is_backlog
    sales = (fulfilled @ net.fulfilment_zone_one_hot).astype(fulfilled.dtype, copy=False)
    return ZoneFlows(
        fulfilled=fulfilled,
        sales=sales,
        filled=filled,
        lost=now - arose,
        backlog=np.stack([arose, old + new], axis=-1),
        lead_time=lead_time,
    )
