"""Several SKUs on one network, sharing its storage and lane capacity.

A network with ``skus: [...]`` is simulated as one network with a copy of the physical
network per SKU — SKU-major: SKU 0's suppliers, stock nodes, lanes and zones, then SKU
1's, ... — named ``node/sku`` (lanes ``a/sku->b/sku``, zones ``zone/sku``). A SKU's copy
holds only the stock nodes of its ``stocked_at`` (every stock node by default), the lanes
between the nodes it holds, and the fulfilment lanes from them and from suppliers
(drop-ship, unless the SKU says ``drop_ship: false``). Every policy, tuner and KPI of a
single-product network then works per (node, SKU) unchanged.

What the copies share is their physical site (``SkuLayout``, read by
``envs.transition``):

- **Lane capacity**, in volume units: when the SKUs' orders on a lane ask more volume
  than its ``capacity``, each SKU's quantity is cut to floor(quantity x capacity /
  volume asked) — proportional, whole units, the volume left by the rounding unused.
- **Storage**, in volume units: arrivals that do not fit the room left at the node are
  cut the same way, floor(arriving x room / volume arriving) per SKU, the rest disposed
  of (``overflow``, at the SKU's ``overflow_cost``).
- **A lane's fixed cost** is paid once per period in which any SKU ships on it (one
  truck), in ``ordering`` or ``transfer``.
- **A node's facility cost** is paid once, on the copy of the first SKU it holds.

Per-unit costs follow the SKU: holding, in-transit holding, overflow and the penalty are
multiplied by its ``value``, transport (a lane's or a fulfilment lane's ``unit_cost``) by
its ``volume``; handling is per unit. A SKU's demand at each point is the point's demand
with its mean (and std) multiplied by ``demand_scale``, or negative binomial with the
SKU's ``demand_cv`` when given.

What copies could not share exactly is rejected with a one-line error rather than
approximated: a finite supplier capacity, random disruptions (scheduled outages are fine:
every copy of a node or lane is down together), random lead times (a truck carries every
SKU with one lead time), a finite fulfilment-lane capacity, a starting stock, and a
demand-correlation matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.schema import ConfigError, NetworkSpec, SkuSpec, supplied_nodes, validate_network


@dataclass(frozen=True)
class SkuLayout:
    """Which SKU and physical site every node, lane and demand point of the expanded
    network is (N nodes, E lanes, D demand points, G physical lanes, H physical nodes)."""

    names: tuple[str, ...]
    """The SKUs, in config order."""
    node_sku: np.ndarray  # [N] SKU of each node copy
    node_site: np.ndarray  # [N] physical node (0..H-1) of each node copy
    site_names: tuple[str, ...]  # [H]
    site_storage: np.ndarray  # [H] shared storage capacity, volume units (inf: none)
    node_volume: np.ndarray  # [N] volume of one unit of the copy's SKU
    lane_sku: np.ndarray  # [E]
    lane_site: np.ndarray  # [E] physical lane (0..G-1) of each lane copy
    lane_site_names: tuple[str, ...]  # [G] "source->destination"
    lane_site_capacity: np.ndarray  # [G] shared capacity per period, volume units
    lane_site_fixed_cost: np.ndarray  # [G] paid once per period in which it ships
    lane_site_is_transfer: np.ndarray  # [G] bool
    lane_volume: np.ndarray  # [E]
    point_sku: np.ndarray  # [D] SKU of each demand point (demand nodes, then zones)

    @property
    def num_skus(self) -> int:
        return len(self.names)


def sku_copy(name: str, sku: str) -> str:
    """The name of ``name``'s copy for ``sku`` (a node or a zone)."""
    return f"{name}/{sku}"


def expand_skus(spec: NetworkSpec, prefix: str = "") -> tuple[NetworkSpec, SkuLayout]:
    """The single-product network with one copy per SKU (module docstring) and its layout.

    Raises:
        ConfigError: one line naming the ``skus`` field (or the network field that copies
            cannot share) and the value.
    """
    at = f"{prefix}." if prefix else ""
    try:
        _check_shareable(spec)
    except ConfigError as err:
        raise ConfigError(f"{at}{err}") from None
    sites = [n.name for n in spec.nodes]
    site_of = {name: h for h, name in enumerate(sites)}
    stock_sites = [n.name for n in spec.nodes if n.kind == "stock"]
    held = [_held(i, sku, spec, stock_sites, at) for i, sku in enumerate(spec.skus)]
    physical_lanes = [lane for _, lane in spec.all_lanes]

    nodes, node_sku, node_site, node_volume = [], [], [], []
    lanes: dict[str, list] = {"lanes": [], "transfer_lanes": []}
    lane_rows: dict[str, list] = {"lanes": [], "transfer_lanes": []}
    zones, zone_sku = [], []
    paid_facility: set[str] = set()
    suppliers = {n.name for n in spec.nodes if n.kind == "supplier"}
    for s, sku in enumerate(spec.skus):
        present = held[s] | suppliers
        for node in spec.nodes:
            if node.name not in present:
                continue
            data = node.model_dump()
            data["name"] = sku_copy(node.name, sku.name)
            if node.kind == "stock":
                data["storage_capacity"] = math.inf
                data["holding_cost"] = node.holding_cost * sku.value
                data["overflow_cost"] = node.overflow_cost * sku.value
                data["facility_cost"] = 0.0 if node.name in paid_facility else node.facility_cost
                paid_facility.add(node.name)
                if node.demand is not None:
                    data["demand"] = _demand(node.demand, sku, f"{at}skus[{s}]", node.name)
                    data["penalty"] = node.penalty * sku.value
            nodes.append(data)
            node_sku.append(s)
            node_site.append(site_of[node.name])
            node_volume.append(sku.volume)
        for j, (path, lane) in enumerate(spec.all_lanes):
            if lane.source not in present or lane.destination not in present:
                continue
            data = lane.model_dump()
            data["source"] = sku_copy(lane.source, sku.name)
            data["destination"] = sku_copy(lane.destination, sku.name)
            if lane.max_order is None and math.isfinite(lane.capacity):
                # The action range of the SKU's copy: what the lane could carry of it alone.
                data["max_order"] = float(math.floor(lane.capacity / sku.volume))
            data.update(
                capacity=math.inf,
                fixed_cost=0.0,
                unit_cost=lane.unit_cost * sku.volume,
                in_transit_holding=lane.in_transit_holding * sku.value,
            )
            group = "lanes" if path.startswith("lanes") else "transfer_lanes"
            lanes[group].append(data)
            lane_rows[group].append((s, j))
        for zone in spec.zones:
            data = zone.model_dump()
            data["name"] = sku_copy(zone.name, sku.name)
            data["demand"] = _demand(zone.demand, sku, f"{at}skus[{s}]", zone.name)
            data["penalty"] = zone.penalty * sku.value
            data["fulfilment"] = [
                {
                    **lane.model_dump(),
                    "source": sku_copy(lane.source, sku.name),
                    "unit_cost": lane.unit_cost * sku.volume,
                }
                for lane in zone.fulfilment
                if lane.source in held[s] or (lane.source in suppliers and sku.drop_ship)
            ]
            zones.append(data)
            zone_sku.append(s)

    expanded = {
        "nodes": nodes,
        **lanes,
        "zones": zones,
        "rationing": spec.rationing,
        "demand_correlation": spec.demand_correlation,
        "demand_trace": spec.demand_trace,
    }
    try:
        out = validate_network(expanded)
    except ConfigError as err:
        raise ConfigError(f"{at}skus: in the network of SKU copies, {err}") from None

    rows = lane_rows["lanes"] + lane_rows["transfer_lanes"]
    own_demand = [node_sku[i] for i, n in enumerate(nodes) if n.get("demand") is not None]
    layout = SkuLayout(
        names=tuple(sku.name for sku in spec.skus),
        node_sku=np.array(node_sku, dtype=np.int64),
        node_site=np.array(node_site, dtype=np.int64),
        site_names=tuple(sites),
        site_storage=np.array([getattr(n, "storage_capacity", math.inf) for n in spec.nodes]),
        node_volume=np.array(node_volume, dtype=float),
        lane_sku=np.array([s for s, _ in rows], dtype=np.int64),
        lane_site=np.array([j for _, j in rows], dtype=np.int64),
        lane_site_names=tuple(f"{e.source}->{e.destination}" for e in physical_lanes),
        lane_site_capacity=np.array([e.capacity for e in physical_lanes], dtype=float),
        lane_site_fixed_cost=np.array([e.fixed_cost for e in physical_lanes], dtype=float),
        lane_site_is_transfer=np.array([e.kind == "transfer" for e in physical_lanes]),
        lane_volume=np.array([spec.skus[s].volume for s, _ in rows], dtype=float),
        point_sku=np.array(own_demand + zone_sku, dtype=np.int64),
    )
    return out, layout


def _check_shareable(spec: NetworkSpec) -> None:
    """Reject what the SKU copies of a node or lane could not share exactly."""
    names = [sku.name for sku in spec.skus]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"skus[{i}].name: duplicate SKU name {name!r}")
    why = "with skus (the SKU copies of a node or lane cannot share it)"
    for i, node in enumerate(spec.nodes):
        if node.disruption.failure_prob > 0:
            raise ConfigError(
                f"nodes[{i}].disruption.failure_prob: random disruptions are not modelled "
                f"{why}, got {node.disruption.failure_prob:g}; use scheduled outages"
            )
        if node.kind == "supplier" and math.isfinite(node.capacity):
            raise ConfigError(
                f"nodes[{i}].capacity: a finite supplier capacity is not modelled {why}, "
                f"got {node.capacity:g}; put the capacity on the supplier's lanes"
            )
        if node.kind == "stock" and node.initial_on_hand > 0:
            raise ConfigError(
                f"nodes[{i}].initial_on_hand: a starting stock is ambiguous {why}, got "
                f"{node.initial_on_hand:g}; start empty and evaluate after a warm-up"
            )
    for path, lane in spec.all_lanes:
        if lane.disruption.failure_prob > 0:
            raise ConfigError(
                f"{path}.disruption.failure_prob: random disruptions are not modelled {why}, "
                f"got {lane.disruption.failure_prob:g}; use scheduled outages"
            )
        if not isinstance(lane.lead_time, int) and len(getattr(lane.lead_time, "support", [0])) > 1:
            raise ConfigError(
                f"{path}.lead_time: a random lead time is not modelled {why} (one truck, one "
                f"lead time for every SKU), got {lane.lead_time.model_dump()}"
            )
    for i, zone in enumerate(spec.zones):
        for j, lane in enumerate(zone.fulfilment):
            if math.isfinite(lane.capacity):
                raise ConfigError(
                    f"zones[{i}].fulfilment[{j}].capacity: a finite fulfilment capacity is "
                    f"not modelled {why}, got {lane.capacity:g}"
                )
    if spec.demand_correlation is not None and not isinstance(spec.demand_correlation, float):
        raise ConfigError(
            f"demand_correlation: a matrix is not modelled {why}; give a scalar "
            "(equicorrelation across every SKU at every point)"
        )


def _held(index: int, sku: SkuSpec, spec: NetworkSpec, stock_sites: list[str], at: str) -> set[str]:
    """The stock nodes that hold ``sku``, checked: known stock nodes, every node with its
    own demand, and a stock source for every zone."""
    field = f"{at}skus[{index}].stocked_at"
    if sku.stocked_at is None:
        return set(stock_sites)
    held = set()
    for name in sku.stocked_at:
        if name not in stock_sites:
            raise ConfigError(f"{field}: {name!r} is not a stock node; stock nodes: {stock_sites}")
        held.add(name)
    for node in spec.nodes:
        if getattr(node, "demand", None) is not None and node.name not in held:
            raise ConfigError(
                f"{field}: node {node.name!r} has its own demand, so it must hold every SKU "
                f"(serve it through a zone to serve it from elsewhere), got {sku.stocked_at}"
            )
    reached = supplied_nodes(spec, through=held)
    if held - reached:
        raise ConfigError(
            f"{field}: {sorted(held - reached)} cannot be replenished with SKU {sku.name!r}: "
            f"no path of lanes from a supplier through nodes that hold it, got {sku.stocked_at}"
        )
    for zone in spec.zones:
        if not any(lane.source in held for lane in zone.fulfilment):
            sources = [lane.source for lane in zone.fulfilment]
            raise ConfigError(
                f"{field}: no fulfilment source of zone {zone.name!r} ({sources}) holds SKU "
                f"{sku.name!r}, got {sku.stocked_at}"
            )
    return held


def _demand(demand: Any, sku: SkuSpec, field: str, point: str) -> dict[str, Any]:
    """The SKU's demand at a point whose demand is ``demand`` (module docstring)."""
    data = demand.model_dump()
    mean = demand.mean * sku.demand_scale
    if sku.demand_cv is not None:
        low = float(demand.seasonality.multipliers().min()) if demand.seasonality else 1.0
        if sku.demand_cv**2 * mean * low <= 1:
            raise ConfigError(
                f"{field}.demand_cv: {sku.demand_cv:g} at {point!r} (mean {mean:.4g}) gives "
                "variance <= mean, which a negative binomial cannot have; needs "
                f"demand_cv**2 * mean > 1 (demand_cv > {1 / math.sqrt(mean * low):.4g})"
            )
        return {
            "dist": "negative_binomial",
            "mean": mean,
            "std": sku.demand_cv * mean,
            "seasonality": data.get("seasonality"),
        }
    data["mean"] = mean
    if data.get("std") is not None:
        data["std"] = demand.std * sku.demand_scale
    if data["dist"] == "deterministic" and not float(mean).is_integer():
        raise ConfigError(
            f"{field}.demand_scale: {sku.demand_scale:g} makes the deterministic demand at "
            f"{point!r} {mean:g}, not a whole number of units"
        )
    return data
