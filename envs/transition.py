"""One period of the inventory network, for a batch of B envs at once.

``transition(net, state, action, noise)`` reads top to bottom in the event order
of the design (DESIGN.md, "Event order in a period"):

1. Arrivals — already applied: a ``State`` is always the decision-time state of
   period t, i.e. after the arrivals due at the start of t (step 5 below of the
   previous call), so a policy sees the stock it can use.
2. Decision — the action's shipments leave their sources' on-hand at once
   (rationed when a source is short, see ``envs.network``); a shipment with lead
   time L arrives at the start of period t+L, before that period's demand; L=0
   lands now.
3. Demand — served from on-hand; backlog (served first) or lost sales per node.
4. Costs — on the end-of-period state.
5. Advance — period t+1 begins: its arrivals land, disruptions switch, t += 1.

There is no Python loop over envs, nodes or lanes: every step is array code over
the leading batch axis.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np

from envs.network import Network
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
        last_demand: demand observed in the previous period per demand node [B, D].
    """

    on_hand: np.ndarray
    backlog: np.ndarray
    pipeline: np.ndarray
    period: np.ndarray
    node_up: np.ndarray
    lane_up: np.ndarray
    last_demand: np.ndarray

    @property
    def num_envs(self) -> int:
        return self.on_hand.shape[0]

    def in_transit(self) -> np.ndarray:
        """Units in transit on each lane [B, E]."""
        return self.pipeline.sum(axis=-1)

    def inventory_position(self, net: Network) -> np.ndarray:
        """On-hand + in transit to the node − backlog, per node [B, N] (installation)."""
        return self.on_hand - self.backlog + self.in_transit() @ net.destination_incidence

    def copy(self) -> State:
        return State(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def select(self, mask: np.ndarray, other: State) -> State:
        """Per env, ``other`` where ``mask`` [B] is True, else self (the autoreset select)."""
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            m = mask.reshape((-1,) + (1,) * (a.ndim - 1))
            out[f.name] = np.where(m, b, a)
        return State(**out)


@dataclass
class Costs:
    """Cost of one period per env [B], by component (see ``total``)."""

    holding: np.ndarray
    in_transit: np.ndarray
    backlog: np.ndarray
    lost_sales: np.ndarray
    overflow: np.ndarray
    ordering: np.ndarray
    transfer: np.ndarray

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
        demand: customer demand per demand node [B, D].
        sales: units served to customers, backlog included [B, D].
        filled: units of this period's demand served at once (for the fill rate) [B, D].
        lost: demand lost [B, D].
        backlog: backlog at the end of the period [B, D].
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


def initial_state(net: Network, num_envs: int, dtype: np.dtype = np.float64) -> State:
    """The state at the start of an episode: initial stock, nothing in transit, all up.

    ``dtype`` is the float type of quantities and costs: float64 (default, for evaluation)
    or float32 (half the memory traffic; whole units stay exact up to 2**24).
    """
    b, n, e = num_envs, net.num_nodes, net.num_lanes
    return State(
        on_hand=np.broadcast_to(net.initial_on_hand, (b, n)).astype(dtype),
        backlog=np.zeros((b, n), dtype=dtype),
        pipeline=np.zeros((b, e, net.pipeline_length), dtype=dtype),
        period=np.zeros(b, dtype=np.int64),
        node_up=np.ones((b, n), dtype=bool),
        lane_up=np.ones((b, e), dtype=bool),
        last_demand=np.zeros((b, net.num_demand_nodes), dtype=dtype),
    )


def check_action(net: Network, action: np.ndarray, dtype: np.dtype = np.float64) -> np.ndarray:
    """Validate an action of order quantities per lane [B, E]; raise on NaN/inf or shape."""
    action = np.asarray(action, dtype=dtype)
    if action.ndim != 2 or action.shape[1] != net.num_lanes:
        raise ValueError(
            f"action: expected shape [num_envs, {net.num_lanes}] (one quantity per lane "
            f"{list(net.lane_names)}), got {action.shape}"
        )
    if not np.isfinite(action).all():
        env, lane = np.argwhere(~np.isfinite(action))[0]
        raise ValueError(
            f"action: non-finite quantity {action[env, lane]!r} for lane "
            f"{net.lane_names[lane]!r} in env {env}"
        )
    return action


def _allocate_in_lane_order(
    net: Network, request: np.ndarray, available: np.ndarray, k: _Derived | None = None
) -> np.ndarray:
    """Serve each source's lanes in lane order until its available units run out.

    ``request`` [B, E], ``available`` [B, N] -> allocation [B, E].
    """
    k = k or _derived(net, request.dtype, request.shape[0])
    before = request @ k.earlier_same_source  # asked by earlier lanes of the same source
    return np.clip(available[:, net.lane_source] - before, 0.0, request)


def ration(
    net: Network, request: np.ndarray, available: np.ndarray, k: _Derived | None = None
) -> np.ndarray:
    """Shipments per lane [B, E] given requests [B, E] and units available per node [B, N].

    ``proportional``: floor(request * available / total request) per lane, then the whole
    units left go one each to the lanes still short, in lane order. ``priority``: lane order.
    """
    k = k or _derived(net, request.dtype, request.shape[0])
    total = request @ k.source_incidence
    if not (total > available).any():
        return request
    if net.rationing == "priority":
        return _allocate_in_lane_order(net, request, available, k)
    # Sources that are not short serve their whole total: base = request, nothing left over.
    # floor(request * served / total) with the product taken first: exact for whole units,
    # where request * (available / total) can fall just below a whole number (22 * 30/44).
    served = np.minimum(available, total)
    src = net.lane_source
    base = np.floor(request * served[:, src] / np.maximum(total, 1e-12)[:, src])
    left = available - base @ k.source_incidence
    return base + _allocate_in_lane_order(net, np.minimum(request - base, 1.0), left, k)


def _receive(k: _Derived, on_hand: np.ndarray, inbound: np.ndarray) -> np.ndarray:
    """Add inbound units per node [B, N] to ``on_hand`` in place; return units overflowing."""
    on_hand += inbound
    overflow = np.maximum(on_hand - k.storage_capacity, 0.0)
    on_hand -= overflow
    return overflow


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
    k = _derived(net, dtype, b)
    action = check_action(net, action, dtype)

    # 2. Decision: clip, ration at short sources, ship.
    wanted = np.rint(np.maximum(action, 0.0))
    requested = np.minimum(wanted, k.lane_capacity)
    clipped = wanted - requested
    available = np.where(net.is_supplier, k.supplier_capacity, state.on_hand)
    if net.has_disruptions:
        requested = requested * state.lane_up
        # where, not a product: an infinite supplier that is down has 0 (inf * 0 is NaN).
        available = np.where(state.node_up, available, 0.0)
    shipped = ration(net, requested, available, k)

    on_hand = state.on_hand - shipped @ k.stock_source_incidence
    lead_time = noise.lead_time
    # Lead time 0 lands at once (only lanes whose support includes 0 can do that).
    landed_now = np.zeros_like(shipped)
    now = k.instant_lanes
    landed_now[:, now] = shipped[:, now] * (lead_time[:, now] == 0)
    overflow = _receive(k, on_hand, landed_now @ k.destination_incidence)
    # Advance the pipeline by one period while copying it: shifting the flat array by one
    # element moves every lane's slot k+1 to slot k (each lane's last slot receives the next
    # lane's head, then is zeroed). ``pipeline`` is then relative to period t+1.
    pipeline = np.empty(state.pipeline.shape, dtype=dtype)
    pipeline.reshape(-1)[:-1] = state.pipeline.reshape(-1)[1:]
    pipeline[:, :, -1] = 0.0
    arriving = state.pipeline[:, :, 0] + shipped * (lead_time == 1)
    # Each (env, lane) puts its shipment in exactly one slot, so fancy += is safe.
    slot = np.maximum(lead_time - 2, 0)
    pipeline.reshape(-1)[k.pipeline_base + slot] += shipped * (lead_time >= 2)

    # 3. Demand: backlog first, then this period's demand, from on-hand.
    dn = net.demand_nodes
    demand = noise.demand.astype(dtype, copy=False)
    stock = on_hand[:, dn]
    old_backlog = state.backlog[:, dn]
    asked = demand + old_backlog
    sales = np.minimum(stock, asked)
    shortfall = asked - sales
    on_hand[:, dn] = stock - sales
    backlog = np.zeros_like(state.backlog)
    backlog_d = shortfall * k.is_backlog
    backlog[:, dn] = backlog_d
    lost = shortfall - backlog_d
    filled = np.minimum(demand, np.maximum(stock - old_backlog, 0.0))

    # 4. Costs on the end-of-period state.
    # Units in transit at the end of period t: the advanced pipeline plus what lands at t+1.
    in_transit_cost = (
        pipeline.reshape(b, -1) @ k.per_slot_rate + arriving @ k.in_transit_holding
        if k.charges_in_transit
        else np.zeros(b, dtype=dtype)
    )
    lane_cost = (shipped > 0) * k.fixed_cost + shipped * k.unit_cost
    costs = Costs(
        holding=on_hand @ k.holding_cost,
        in_transit=in_transit_cost,
        backlog=backlog_d @ k.backlog_penalty,
        lost_sales=lost @ k.lost_penalty,
        overflow=np.zeros(b, dtype=dtype),  # set below, once next period's arrivals landed
        ordering=lane_cost @ k.is_replenishment,
        transfer=lane_cost @ k.is_transfer,
    )

    # 5. Advance to period t+1: arrivals due at its start land; disruptions switch.
    # Units that do not fit are disposed of on arrival and charged in this call.
    overflow += _receive(k, on_hand, arriving @ k.destination_incidence)
    if k.charges_overflow:
        costs.overflow = overflow @ k.overflow_cost
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
    )
    return next_state, costs, flows


@dataclass(frozen=True)
class _Derived:
    """Constants of a network in the state's float dtype (so no product upcasts), plus
    index arrays the transition needs; built once per (network, dtype, batch size)."""

    lane_capacity: np.ndarray
    supplier_capacity: np.ndarray
    storage_capacity: np.ndarray
    source_incidence: np.ndarray  # [E, N]
    stock_source_incidence: np.ndarray  # [E, N], suppliers' columns zero (no stock to debit)
    destination_incidence: np.ndarray  # [E, N]
    earlier_same_source: np.ndarray  # [E, E], 1 where lane e' < e leaves e's source
    holding_cost: np.ndarray
    overflow_cost: np.ndarray
    backlog_penalty: np.ndarray  # [D], 0 at lost-sales nodes
    lost_penalty: np.ndarray  # [D], 0 at backlog nodes
    is_backlog: np.ndarray  # [D] as 0/1
    fixed_cost: np.ndarray
    unit_cost: np.ndarray
    is_replenishment: np.ndarray  # [E] as 0/1
    is_transfer: np.ndarray  # [E] as 0/1
    in_transit_holding: np.ndarray
    per_slot_rate: np.ndarray  # [E * Lmax], in-transit rate of each flattened pipeline slot
    instant_lanes: np.ndarray  # lanes whose lead time can be 0
    charges_in_transit: bool
    charges_overflow: bool
    pipeline_base: np.ndarray  # [B, E] flat index of slot 0 of each (env, lane)


def _derived(net: Network, dtype: np.dtype, num_envs: int) -> _Derived:
    cache = net.__dict__.setdefault("_derived", {})  # Network is frozen; its __dict__ is not
    key = (dtype, num_envs)
    if key not in cache:
        f = lambda x: np.asarray(x, dtype=dtype)  # noqa: E731
        e = np.arange(net.num_lanes)
        same = net.lane_source[:, None] == net.lane_source[None, :]
        cache[key] = _Derived(
            lane_capacity=f(net.lane_capacity),
            supplier_capacity=f(net.supplier_capacity),
            storage_capacity=f(net.storage_capacity),
            source_incidence=f(net.source_incidence),
            stock_source_incidence=f(net.source_incidence * ~net.is_supplier),
            destination_incidence=f(net.destination_incidence),
            earlier_same_source=f(same & (e[:, None] < e[None, :])),
            holding_cost=f(net.holding_cost),
            overflow_cost=f(net.overflow_cost),
            backlog_penalty=f(net.penalty * net.is_backlog),
            lost_penalty=f(net.penalty * ~net.is_backlog),
            is_backlog=f(net.is_backlog),
            fixed_cost=f(net.fixed_cost),
            unit_cost=f(net.unit_cost),
            is_replenishment=f(~net.is_transfer),
            is_transfer=f(net.is_transfer),
            in_transit_holding=f(net.in_transit_holding),
            per_slot_rate=f(np.repeat(net.in_transit_holding, net.pipeline_length)),
            instant_lanes=np.flatnonzero(net.lead_time_support[:, 0] == 0),
            charges_in_transit=bool(net.in_transit_holding.any()),
            charges_overflow=bool(net.overflow_cost.any()),
            pipeline_base=(e[None, :] + np.arange(num_envs)[:, None] * net.num_lanes)
            * net.pipeline_length,
        )
    return cache[key]
