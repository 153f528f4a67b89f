"""The transition of ``envs.transition`` in torch: same events, differentiable in the orders.

``torch_transition(net, state, quantities, noise)`` advances B envs by one period exactly as
``envs.transition.transition`` does — decision (clip to capacity, ration at short sources,
ship), demand (backlog first, lost sales), costs on the end-of-period state, advance (arrivals,
disruptions) — on tensors of any device and float dtype. Noise is drawn by
``envs.noise.NoiseStream`` as numpy and converted (``noise_to_torch``), so both twins see the
same demands, lead times and disruptions; ``tests/test_torch_transition.py`` checks parity
step by step on every preset.

Gradients (for pathwise policy optimisation, HDPO): min, max and clip pass the subgradient of
the branch they select; the two roundings of the numpy transition — ``rint`` of the order and
``floor`` in proportional rationing — are *straight-through*: the forward pass rounds (so the
simulated trajectory is exactly the integer one), the backward pass treats rounding as the
identity. Fixed ordering costs and disruptions carry no gradient, unless a surrogate is
passed (``fixed_cost_width``: a ramp in the quantity; ``fixed_cost_gate``: a soft reorder
trigger). With ``straight_through=False`` the roundings are applied without a gradient path
(pure evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from envs.network import Network
from envs.noise import Noise


@dataclass
class TorchState:
    """Decision-time state of B envs as tensors (fields as ``envs.transition.State``)."""

    on_hand: torch.Tensor  # [B, N]
    backlog: torch.Tensor  # [B, N]
    pipeline: torch.Tensor  # [B, E, P]
    period: torch.Tensor  # [B] int64
    node_up: torch.Tensor  # [B, N] bool
    lane_up: torch.Tensor  # [B, E] bool
    last_demand: torch.Tensor  # [B, D]

    @property
    def num_envs(self) -> int:
        return self.on_hand.shape[0]

    def in_transit(self) -> torch.Tensor:
        """Units in transit on each lane [B, E]."""
        return self.pipeline.sum(dim=-1)

    def detach(self) -> TorchState:
        """The same state without gradient history (truncated backpropagation)."""
        return TorchState(**{f.name: getattr(self, f.name).detach() for f in fields(self)})

    def to_numpy(self):
        """As an ``envs.transition.State`` (float64 numpy)."""
        from envs.transition import State

        out = {}
        for f in fields(self):
            x = getattr(self, f.name).detach().cpu().numpy()
            out[f.name] = x.astype(np.float64) if x.dtype.kind == "f" else x
        return State(**out)


@dataclass
class TorchCosts:
    """Cost of one period per env [B] by component (as ``envs.transition.Costs``)."""

    holding: torch.Tensor
    in_transit: torch.Tensor
    backlog: torch.Tensor
    lost_sales: torch.Tensor
    overflow: torch.Tensor
    ordering: torch.Tensor
    transfer: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return (
            self.holding
            + self.in_transit
            + self.backlog
            + self.lost_sales
            + self.overflow
            + self.ordering
            + self.transfer
        )

    def as_dict(self) -> dict[str, torch.Tensor]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["total"] = self.total
        return out


@dataclass
class TorchFlows:
    """What moved in one period (the fields of ``envs.transition.Flows`` that HDPO logs)."""

    requested: torch.Tensor
    clipped: torch.Tensor
    shipped: torch.Tensor
    overflow: torch.Tensor
    demand: torch.Tensor
    sales: torch.Tensor
    filled: torch.Tensor
    lost: torch.Tensor
    backlog: torch.Tensor


@dataclass
class TorchNoise:
    """One period's noise as tensors (fields as ``envs.noise.Noise``)."""

    demand: torch.Tensor
    lead_time: torch.Tensor
    node_disruption: torch.Tensor | None = None
    lane_disruption: torch.Tensor | None = None


def noise_to_torch(noise: Noise, dtype: torch.dtype, device: torch.device | str) -> TorchNoise:
    """``envs.noise.Noise`` (numpy) as tensors on ``device``."""

    def f(x, dt):
        return None if x is None else torch.as_tensor(np.asarray(x), dtype=dt, device=device)

    return TorchNoise(
        demand=f(noise.demand, dtype),
        lead_time=f(noise.lead_time, torch.int64),
        node_disruption=f(noise.node_disruption, torch.float64),
        lane_disruption=f(noise.lane_disruption, torch.float64),
    )


def state_to_torch(state, dtype: torch.dtype, device: torch.device | str) -> TorchState:
    """An ``envs.transition.State`` as tensors on ``device``."""
    out = {}
    for f in fields(TorchState):
        x = np.asarray(getattr(state, f.name))
        dt = dtype if x.dtype.kind == "f" else None
        out[f.name] = torch.as_tensor(x, dtype=dt, device=device)
    return TorchState(**out)


def torch_initial_state(
    net: Network, num_envs: int, dtype: torch.dtype = torch.float32, device="cpu"
) -> TorchState:
    """The state at the start of an episode (as ``envs.transition.initial_state``)."""
    b, n, e = num_envs, net.num_nodes, net.num_lanes
    kw = {"dtype": dtype, "device": device}
    return TorchState(
        on_hand=torch.as_tensor(net.initial_on_hand, **kw).expand(b, n).clone(),
        backlog=torch.zeros(b, n, **kw),
        pipeline=torch.zeros(b, e, net.pipeline_length, **kw),
        period=torch.zeros(b, dtype=torch.int64, device=device),
        node_up=torch.ones(b, n, dtype=torch.bool, device=device),
        lane_up=torch.ones(b, e, dtype=torch.bool, device=device),
        last_demand=torch.zeros(b, net.num_demand_nodes, **kw),
    )


def round_st(x: torch.Tensor, straight_through: bool = True) -> torch.Tensor:
    """Round half to even (as ``np.rint``); gradient of the identity when straight-through."""
    r = torch.round(x)
    return x + (r - x).detach() if straight_through else r.detach()


def floor_st(x: torch.Tensor, straight_through: bool = True) -> torch.Tensor:
    """Floor; gradient of the identity when straight-through."""
    r = torch.floor(x)
    return x + (r - x).detach() if straight_through else r.detach()


@dataclass(frozen=True)
class _Constants:
    """The network's arrays as tensors of one dtype and device (built once per pair)."""

    lane_capacity: torch.Tensor
    supplier_capacity: torch.Tensor
    storage_capacity: torch.Tensor
    is_supplier: torch.Tensor
    lane_source: torch.Tensor
    source_incidence: torch.Tensor
    stock_source_incidence: torch.Tensor
    destination_incidence: torch.Tensor
    demand_incidence: torch.Tensor  # [D, N]
    earlier_same_source: torch.Tensor
    holding_cost: torch.Tensor
    overflow_cost: torch.Tensor
    backlog_penalty: torch.Tensor
    lost_penalty: torch.Tensor
    is_backlog: torch.Tensor
    fixed_cost: torch.Tensor
    unit_cost: torch.Tensor
    is_replenishment: torch.Tensor
    is_transfer: torch.Tensor
    in_transit_holding: torch.Tensor
    per_slot_rate: torch.Tensor
    slots: torch.Tensor  # [P] slot index 0..P-1
    node_failure: torch.Tensor
    node_recovery: torch.Tensor
    lane_failure: torch.Tensor
    lane_recovery: torch.Tensor
    demand_nodes: torch.Tensor
    # Shortcuts: parts of the period that are provably identity or zero for this network
    # are skipped (the same numbers, fewer tensor operations per period).
    may_ration: bool  # some lane leaves a stock node, a finite supplier, or disruptions
    capped_lanes: bool  # some lane capacity is finite
    capped_storage: bool  # some storage capacity is finite
    instant: bool  # some lead time can be 0
    charges_in_transit: bool
    charges_fixed: bool
    has_transfers: bool


def torch_unmodelled(net: Network) -> list[str]:
    """The features of ``net`` that this torch twin does not model (empty when it models
    them all); the numpy reference and the compiled step model every one."""
    found = {
        "demand zones": net.num_zones > 0,
        "facility costs": bool(np.any(net.facility_cost > 0)),
        "handling costs": bool(np.any(net.handling_cost > 0)),
        "scheduled outages": bool(net.outages),
        "several SKUs": net.skus is not None,
    }
    return [name for name, present in found.items() if present]


def _constants(net: Network, dtype: torch.dtype, device: str) -> _Constants:
    cache = net.derived("torch_constants", dict)
    if (dtype, device) not in cache:
        cache[(dtype, device)] = _build_constants(net, dtype, device)
    return cache[(dtype, device)]


def _build_constants(net: Network, dtype: torch.dtype, device: str) -> _Constants:
    if torch_unmodelled(net):
        raise ValueError(
            "network: the torch transition (HDPO) does not model demand zones, facility or "
            "handling costs, scheduled outages or several SKUs yet; this network has "
            f"{', '.join(torch_unmodelled(net))}; train PPO on this network instead"
        )

    def f(x):
        return torch.as_tensor(np.asarray(x, dtype=float), dtype=dtype, device=device)

    e = np.arange(net.num_lanes)
    same = net.lane_source[:, None] == net.lane_source[None, :]
    source = net.source_incidence.toarray()  # dense [E, N]: torch's products need it
    return _Constants(
        lane_capacity=f(net.lane_capacity),
        supplier_capacity=f(net.supplier_capacity),
        storage_capacity=f(net.storage_capacity),
        is_supplier=torch.as_tensor(net.is_supplier, device=device),
        lane_source=torch.as_tensor(net.lane_source, device=device),
        source_incidence=f(source),
        stock_source_incidence=f(source * ~net.is_supplier),
        destination_incidence=f(net.destination_incidence.toarray()),
        demand_incidence=f(np.eye(net.num_nodes)[net.demand_nodes]),
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
        slots=torch.arange(net.pipeline_length, device=device),
        node_failure=torch.as_tensor(net.node_failure, dtype=torch.float64, device=device),
        node_recovery=torch.as_tensor(net.node_recovery, dtype=torch.float64, device=device),
        lane_failure=torch.as_tensor(net.lane_failure, dtype=torch.float64, device=device),
        lane_recovery=torch.as_tensor(net.lane_recovery, dtype=torch.float64, device=device),
        demand_nodes=torch.as_tensor(net.demand_nodes, device=device),
        may_ration=bool(
            (~net.is_supplier[net.lane_source]).any()
            or np.isfinite(net.supplier_capacity[net.is_supplier]).any()
            or net.has_disruptions
        ),
        capped_lanes=bool(np.isfinite(net.lane_capacity).any()),
        capped_storage=bool(np.isfinite(net.storage_capacity).any()),
        instant=bool((net.lead_time_support == 0).any()),
        charges_in_transit=bool(net.in_transit_holding.any()),
        charges_fixed=bool(net.fixed_cost.any()),
        has_transfers=bool(net.is_transfer.any()),
    )


def constants(net: Network, like: torch.Tensor) -> _Constants:
    """The network's constants in ``like``'s dtype and device."""
    return _constants(net, like.dtype, str(like.device))


def _allocate_in_lane_order(
    k: _Constants, request: torch.Tensor, available: torch.Tensor
) -> torch.Tensor:
    """Serve each source's lanes in lane order until its available units run out."""
    before = request @ k.earlier_same_source
    return torch.minimum(torch.clamp(available[:, k.lane_source] - before, min=0.0), request)


def ration(
    net: Network,
    request: torch.Tensor,
    available: torch.Tensor,
    straight_through: bool = True,
) -> torch.Tensor:
    """Shipments per lane [B, E] (as ``envs.transition.ration``), per source: lanes of a
    source that is not short get their request (and its gradient) unchanged."""
    k = constants(net, request)
    total = request @ k.source_incidence
    src = k.lane_source
    short = (total > available)[:, src]
    if net.rationing == "priority":
        allocated = _allocate_in_lane_order(k, request, available)
    else:
        served = torch.minimum(available, total)
        base = floor_st(
            request * served[:, src] / torch.clamp(total, min=1e-12)[:, src], straight_through
        )
        left = available - base @ k.source_incidence
        extra = _allocate_in_lane_order(
            k, torch.minimum(request - base, torch.ones_like(base)), left
        )
        allocated = base + extra
    return torch.where(short, allocated, request)


def _receive(
    k: _Constants, on_hand: torch.Tensor, inbound: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """On-hand after ``inbound`` [B, N] lands, and the units overflowing storage."""
    on_hand = on_hand + inbound
    if not k.capped_storage:
        return on_hand, torch.zeros_like(on_hand)
    overflow = torch.clamp(on_hand - k.storage_capacity, min=0.0)
    return on_hand - overflow, overflow


def torch_transition(
    net: Network,
    state: TorchState,
    action: torch.Tensor,
    noise: TorchNoise,
    straight_through: bool = True,
    check: bool = True,
    fixed_cost_width: torch.Tensor | None = None,
    fixed_cost_gate: torch.Tensor | None = None,
) -> tuple[TorchState, TorchCosts, TorchFlows]:
    """Advance B envs by one period (see the module docstring and ``envs.transition``).

    Args:
        net: the validated network.
        state: decision-time state of period t.
        action: order/transfer quantity per lane [B, E] (any float; rounded, clipped to
            [0, capacity] as in the numpy transition).
        noise: this period's noise (``noise_to_torch``).
        straight_through: roundings pass the gradient of the identity (training); False
            rounds with no gradient path through the rounding.
        check: raise on a non-finite action (a device sync; training loops that produce
            actions by a bounded map may skip it).
        fixed_cost_width: per lane [E], or None. The fixed cost K of a shipment is a step
            in the quantity, with no gradient; with a width w it is still charged exactly but
            differentiated as K * min(q / w, 1) (straight-through), a concave surrogate whose
            slope K / w on orders below w rewards fewer, larger shipments.
        fixed_cost_gate: [B, E] or None. A differentiable stand-in for "this lane ships"
            (the soft reorder trigger of an (s, S) action head, ``agents.hdpo_reorder``):
            the fixed cost is still charged exactly, K * 1[shipped > 0], and differentiated
            as K * gate (straight-through), so it pulls on whatever the gate depends on. A
            gate of zero on a lane adds nothing there.
    """
    k = constants(net, state.on_hand)
    b = state.num_envs
    if check and not torch.isfinite(action).all():
        raise ValueError("action: non-finite order quantity in torch_transition")

    # 2. Decision: clip, ration at short sources, ship.
    wanted = round_st(torch.clamp(action, min=0.0), straight_through)
    requested = torch.minimum(wanted, k.lane_capacity) if k.capped_lanes else wanted
    clipped = wanted - requested
    if k.may_ration:
        available = torch.where(k.is_supplier, k.supplier_capacity, state.on_hand)
        if net.has_disruptions:
            requested = requested * state.lane_up
            available = torch.where(state.node_up, available, torch.zeros_like(available))
        shipped = ration(net, requested, available, straight_through)
    else:  # only unlimited suppliers ship: nothing is ever short
        shipped = requested

    on_hand = state.on_hand
    if k.may_ration:
        on_hand = on_hand - shipped @ k.stock_source_incidence
    lead_time = noise.lead_time
    overflow = torch.zeros_like(on_hand)
    if k.instant:  # lead time 0 lands at once
        on_hand, overflow = _receive(
            k, on_hand, (shipped * (lead_time == 0)) @ k.destination_incidence
        )
    # Advance the pipeline by one period: slot k+1 moves to slot k, the last slot empties.
    old = state.pipeline
    pipeline = torch.cat([old[:, :, 1:], torch.zeros_like(old[:, :, :1])], dim=2)
    arriving = old[:, :, 0] + shipped * (lead_time == 1)
    # A shipment with lead time L >= 2 lands at t+L: slot L-2 of the advanced pipeline.
    if net.max_lead_time >= 2:
        slot_hot = (k.slots == (lead_time - 2)[:, :, None]) & (lead_time >= 2)[:, :, None]
        pipeline = pipeline + shipped[:, :, None] * slot_hot

    # 3. Demand: backlog first, then this period's demand, from on-hand.
    dn = k.demand_nodes
    demand = noise.demand.to(on_hand.dtype)
    stock = on_hand[:, dn]
    old_backlog = state.backlog[:, dn]
    asked = demand + old_backlog
    sales = torch.minimum(stock, asked)
    shortfall = asked - sales
    on_hand = on_hand - sales @ k.demand_incidence
    backlog_d = shortfall * k.is_backlog
    backlog = backlog_d @ k.demand_incidence
    lost = shortfall - backlog_d
    filled = torch.minimum(demand, torch.clamp(stock - old_backlog, min=0.0))

    # 4. Costs on the end-of-period state.
    zero = torch.zeros(b, dtype=on_hand.dtype, device=on_hand.device)
    in_transit_cost = (
        pipeline.reshape(b, -1) @ k.per_slot_rate + arriving @ k.in_transit_holding
        if k.charges_in_transit
        else zero
    )
    lane_cost = shipped * k.unit_cost
    if k.charges_fixed:
        ships = (shipped > 0).to(shipped.dtype)
        if fixed_cost_width is not None:
            # Straight-through: charged exactly, differentiated as K * min(q / width, 1).
            ramp = torch.clamp(shipped / fixed_cost_width, max=1.0)
            ships = ships + ramp - ramp.detach()
        if fixed_cost_gate is not None:
            ships = ships + (fixed_cost_gate - fixed_cost_gate.detach())
        lane_cost = lane_cost + ships * k.fixed_cost
    holding = on_hand @ k.holding_cost

    # 5. Advance to period t+1: arrivals land (overflow charged in this period).
    on_hand, overflow_next = _receive(k, on_hand, arriving @ k.destination_incidence)
    overflow = overflow + overflow_next
    costs = TorchCosts(
        holding=holding,
        in_transit=in_transit_cost,
        backlog=backlog_d @ k.backlog_penalty,
        lost_sales=lost @ k.lost_penalty,
        overflow=overflow @ k.overflow_cost if k.capped_storage else zero,
        ordering=lane_cost @ k.is_replenishment,
        transfer=lane_cost @ k.is_transfer if k.has_transfers else zero,
    )
    node_up, lane_up = state.node_up, state.lane_up
    if noise.node_disruption is not None:
        node_up = torch.where(
            node_up,
            noise.node_disruption >= k.node_failure,
            noise.node_disruption < k.node_recovery,
        )
        lane_up = torch.where(
            lane_up,
            noise.lane_disruption >= k.lane_failure,
            noise.lane_disruption < k.lane_recovery,
        )
    next_state = TorchState(
        on_hand=on_hand,
        backlog=backlog,
        pipeline=pipeline,
        period=state.period + 1,
        node_up=node_up,
        lane_up=lane_up,
        last_demand=demand,
    )
    flows = TorchFlows(
        requested=requested,
        clipped=clipped,
        shipped=shipped,
        overflow=overflow,
        demand=demand,
        sales=sales,
        filled=filled,
        lost=lost,
        backlog=backlog_d,
    )
    return next_state, costs, flows
