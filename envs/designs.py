"""Distribution-network designs for the same customers: where to hold stock, how to fulfil.

``Z`` customer zones sit evenly on a circle of radius 1 around a central location, each
with Poisson demand, lost when no fulfilment lane can serve it. A design places stocking
nodes and lists, for every zone, the lanes it is served through, nearest first:

- ``centralised``: one national DC at the centre (distance 1 from every zone), supplied
  directly; every zone is delivered from it.
- ``regional``: ``regions`` regional DCs supplied directly, each at the middle of its
  block of zones on the circle; a zone is served by its own region's DC, then by the
  next-nearest regional DC (lateral fulfilment). ``regions=1`` is the centralised design
  (its DC at the centre); sweeping ``regions`` from 1 to Z shows the pooling effect.
- ``hub_and_spoke``: a central DC supplied by the supplier feeds ``regions`` regional DCs;
  a zone is served by its regional DC, then by the central DC.
- ``micro_fulfilment``: a central DC feeds one small micro-fulfilment centre (MFC) per
  zone (at the zone, storage ``mfc_capacity``); a zone is served by its MFC, then by the
  central DC.
- ``drop_ship``: the centralised design with the supplier's stock as a fallback: demand
  the DC cannot serve is drop-shipped by the supplier (slower, dearer) instead of lost.

Two switches, for resilience studies: ``fallback=False`` drops every fulfilment lane but
a zone's first (no alternative fulfilment), and ``transfers=True`` adds lateral transfer
lanes between neighbouring regional DCs (lead time 1), which a transfer rule such as
``+policy/transfers=rebalance`` uses.

Several SKUs (``skus=True``): the six SKUs of ``ASSORTMENT`` share every node's storage
and lane (``envs.skus``), with the zones' demand split among them. ``placement`` says
where each SKU is held, in the ``hub_and_spoke`` design:

- ``distributed``: every SKU at the central DC and every regional DC;
- ``centralised``: every SKU at the central DC only (zones served from the centre);
- ``segmented``: by the SKU's ABC/XYZ class (``envs.segmentation``): A and B SKUs with
  X or Y variability at the regional DCs too, the other B and the C SKUs at the central
  DC only, and C SKUs of Z variability drop-shipped by the supplier when the central DC
  is out (the zones then have a drop-ship lane as their last fulfilment lane).

``dc_storage`` caps each regional DC's storage, in volume units, shared by the SKUs.

Distances are chords of the circle; a lane of distance ``d`` delivers in 0 periods when
``d < 0.35`` (same day), 1 when ``d < 1.05`` (next day), else 2, and costs
``last_mile_base + last_mile_per_distance * d`` per unit. Every stocking node pays a
facility cost per period (a DC's, an MFC's) and a handling cost per unit shipped out.
Constants are those of ``DesignCosts``; they are illustrative, chosen so that the
trade-offs of the literature (pooling vs proximity vs facility cost) are all visible,
not calibrated to a real network.

    python -m experiments.evaluate env=design env.design=regional env.regions=4 policy=base_stock
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from envs.network import build_network
from envs.segmentation import abc_xyz

DESIGNS = ("centralised", "regional", "hub_and_spoke", "micro_fulfilment", "drop_ship")
PLACEMENTS = ("distributed", "centralised", "segmented")


@dataclass(frozen=True)
class AssortmentSku:
    """One SKU of the generated assortment (the fields of ``envs.schema.SkuSpec``)."""

    name: str
    demand_share: float
    """Share of each zone's mean demand."""
    demand_cv: float | None
    """Coefficient of variation per zone and period (None: Poisson)."""
    value: float
    volume: float


ASSORTMENT = (
    AssortmentSku("fast_steady", 0.45, None, 1.0, 1.0),
    AssortmentSku("fast_erratic", 0.25, 2.4, 1.0, 1.0),
    AssortmentSku("mid_steady", 0.15, None, 2.0, 1.0),
    AssortmentSku("mid_erratic", 0.08, 4.0, 2.0, 2.0),
    AssortmentSku("slow_steady", 0.05, None, 4.0, 1.0),
    AssortmentSku("slow_erratic", 0.02, 5.0, 4.0, 2.0),
)
"""Six SKUs from fast movers to slow, steady (Poisson) and erratic (negative binomial),
worth and weighing more as they sell less: with 12 zones of mean 20 they fall in the
classes AX, AY, BX, BZ, CX, CZ (``envs.segmentation``, default thresholds)."""


@dataclass(frozen=True)
class DesignCosts:
    """Cost and time constants of the generated designs (per unit, per period)."""

    supplier_lead_time: int = 2
    """Supplier to the DC(s) fed directly, periods."""
    line_haul_lead_time: int = 1
    """Central DC to a regional DC or MFC, periods."""
    purchase_cost: float = 1.0
    """Per unit bought from the supplier."""
    line_haul_cost: float = 0.2
    """Per unit moved from the central DC to a regional DC or an MFC."""
    last_mile_base: float = 0.3
    last_mile_per_distance: float = 0.8
    """Last-mile transport per unit: base + per_distance x distance to the zone."""
    drop_ship_premium: float = 1.5
    """Per unit drop-shipped, beyond a last-mile delivery from the centre."""
    drop_ship_delivery: int = 3
    """Periods from the supplier to the customer."""
    dc_facility_cost: float = 6.0
    central_facility_cost: float = 8.0
    mfc_facility_cost: float = 2.0
    handling_cost: float = 0.1
    dc_holding_cost: float = 0.4
    central_holding_cost: float = 0.3
    mfc_holding_cost: float = 0.6
    mfc_capacity: float = 30.0
    transfer_cost: float = 0.3
    """Per unit moved between neighbouring regional DCs."""


def delivery_time(distance: float) -> int:
    """Periods from shipment to the customer over a chord ``distance`` (module docstring)."""
    return 0 if distance < 0.35 else (1 if distance < 1.05 else 2)


def _angle(i: float, count: int) -> float:
    return 2 * math.pi * i / count


def _chord(a: float, b: float) -> float:
    return 2 * abs(math.sin((a - b) / 2))


def design_config(
    design: str,
    zones: int = 12,
    regions: int = 4,
    *,
    demand_mean: float = 4.0,
    penalty: float = 10.0,
    costs: DesignCosts = DesignCosts(),
    outage: dict[str, Any] | None = None,
    fallback: bool = True,
    transfers: bool = False,
    skus: bool = False,
    placement: str = "distributed",
    dc_storage: float = math.inf,
) -> dict[str, Any]:
    """The network config (a ``NetworkSpec`` mapping) of ``design`` for ``zones`` zones.

    ``outage``: an optional scheduled outage, for resilience studies: of a node
    ``{node: dc_0, start: t0, end: t1}`` (it ships nothing, to nodes or customers) or of a
    replenishment lane ``{lane: supplier->dc_0, start: t0, end: t1}`` (it carries nothing
    new).
    """
    if design not in DESIGNS:
        raise ValueError(f"env.design: must be one of {list(DESIGNS)}, got {design!r}")
    for name, value in (("zones", zones), ("regions", regions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"env.{name}: must be a whole number >= 1, got {value!r}")
    if regions > zones:
        raise ValueError(f"env.regions: at most env.zones ({zones}), got {regions}")
    if placement not in PLACEMENTS:
        raise ValueError(f"env.placement: must be one of {list(PLACEMENTS)}, got {placement!r}")
    if placement != "distributed" and not (skus and design == "hub_and_spoke"):
        raise ValueError(
            f"env.placement: {placement!r} needs env.skus=true and env.design=hub_and_spoke "
            f"(a central DC to hold the SKUs that are not distributed), got skus={skus}, "
            f"design={design!r}"
        )
    c = costs
    zone_angle = [_angle(z + 0.5, zones) for z in range(zones)]
    nodes: list[dict[str, Any]] = [{"name": "supplier", "kind": "supplier"}]
    lanes: list[dict[str, Any]] = []

    def stock(name: str, holding: float, facility: float, **extra: Any) -> None:
        nodes.append(
            {
                "name": name,
                "holding_cost": holding,
                "facility_cost": facility,
                "handling_cost": c.handling_cost,
                **extra,
            }
        )

    def lane(source: str, destination: str, lead_time: int, unit_cost: float) -> None:
        lanes.append(
            {
                "source": source,
                "destination": destination,
                "lead_time": lead_time,
                "unit_cost": unit_cost,
            }
        )

    def last_mile(source: str, distance: float) -> dict[str, Any]:
        return {
            "source": source,
            "delivery_time": delivery_time(distance),
            "unit_cost": round(c.last_mile_base + c.last_mile_per_distance * distance, 4),
        }

    centre = last_mile("central_dc", 1.0)
    fulfilment: list[list[dict[str, Any]]] = [[] for _ in range(zones)]
    if design in ("centralised", "drop_ship") or (design == "regional" and regions == 1):
        stock("central_dc", c.central_holding_cost, c.central_facility_cost)
        lane("supplier", "central_dc", c.supplier_lead_time, c.purchase_cost)
        for z in range(zones):
            fulfilment[z].append(centre)
            if design == "drop_ship":
                fulfilment[z].append(
                    {
                        "source": "supplier",
                        "delivery_time": c.drop_ship_delivery,
                        "unit_cost": centre["unit_cost"] + c.drop_ship_premium,
                    }
                )
    elif design in ("regional", "hub_and_spoke"):
        block = [z * regions // zones for z in range(zones)]  # region of each zone
        dc_angle = []
        for r in range(regions):
            members = [zone_angle[z] for z in range(zones) if block[z] == r]
            dc_angle.append(sum(members) / len(members))
        if design == "hub_and_spoke":
            stock("central_dc", c.central_holding_cost, c.central_facility_cost)
            lane("supplier", "central_dc", c.supplier_lead_time, c.purchase_cost)
        for r in range(regions):
            stock(f"dc_{r}", c.dc_holding_cost, c.dc_facility_cost, storage_capacity=dc_storage)
            if design == "hub_and_spoke":
                lane("central_dc", f"dc_{r}", c.line_haul_lead_time, c.line_haul_cost)
            else:
                lane("supplier", f"dc_{r}", c.supplier_lead_time, c.purchase_cost)
        for z in range(zones):
            distance = [_chord(zone_angle[z], a) for a in dc_angle]
            own = block[z]
            fulfilment[z].append(last_mile(f"dc_{own}", distance[own]))
            if design == "hub_and_spoke":
                fulfilment[z].append(centre)
            elif regions > 1:
                nearest = min((r for r in range(regions) if r != own), key=distance.__getitem__)
                fulfilment[z].append(last_mile(f"dc_{nearest}", distance[nearest]))
    else:  # micro_fulfilment
        stock("central_dc", c.central_holding_cost, c.central_facility_cost)
        lane("supplier", "central_dc", c.supplier_lead_time, c.purchase_cost)
        for z in range(zones):
            mfc = f"mfc_{z}"
            stock(mfc, c.mfc_holding_cost, c.mfc_facility_cost, storage_capacity=c.mfc_capacity)
            lane("central_dc", mfc, c.line_haul_lead_time, c.line_haul_cost)
            fulfilment[z] += [last_mile(mfc, 0.0), centre]

    transfer_lanes: list[dict[str, Any]] = []
    if transfers and design in ("regional", "hub_and_spoke") and regions > 1:
        pairs = {(r, (r + 1) % regions) for r in range(regions)}
        pairs |= {(b, a) for a, b in pairs}
        for a, b in sorted(pairs):
            transfer_lanes.append(
                {
                    "source": f"dc_{a}",
                    "destination": f"dc_{b}",
                    "lead_time": 1,
                    "unit_cost": c.transfer_cost,
                }
            )
    if not fallback:
        fulfilment = [lanes_of_zone[:1] for lanes_of_zone in fulfilment]
    if skus and placement == "segmented":
        for lanes_of_zone in fulfilment:
            lanes_of_zone.append(
                {
                    "source": "supplier",
                    "delivery_time": c.drop_ship_delivery,
                    "unit_cost": centre["unit_cost"] + c.drop_ship_premium,
                }
            )
    if outage is not None:
        _add_outage(outage, nodes, lanes)
    network = {
        "nodes": nodes,
        "lanes": lanes,
        "transfer_lanes": transfer_lanes,
        "zones": [
            {
                "name": f"zone_{z}",
                "demand": {"dist": "poisson", "mean": demand_mean},
                "unmet": "lost",
                "penalty": penalty,
                "fulfilment": fulfilment[z],
            }
            for z in range(zones)
        ],
    }
    if skus:
        network["skus"] = _placed_assortment(network, placement, design == "drop_ship")
    return network


def _placed_assortment(
    network: dict[str, Any], placement: str, drop_ship: bool
) -> list[dict[str, Any]]:
    """The ``skus`` of ``ASSORTMENT``, each held where ``placement`` puts it (module
    docstring); ``drop_ship``: whether supplier fulfilment lanes carry every SKU."""
    skus = [
        {
            "name": sku.name,
            "demand_scale": sku.demand_share,
            "demand_cv": sku.demand_cv,
            "value": sku.value,
            "volume": sku.volume,
            "drop_ship": drop_ship,
        }
        for sku in ASSORTMENT
    ]
    if placement == "distributed":
        return skus
    segments = abc_xyz(build_network({**network, "skus": skus}))
    for sku, seg in zip(skus, segments):
        regional = placement == "segmented" and seg.abc in "AB" and seg.xyz in "XY"
        if not regional:
            sku["stocked_at"] = ["central_dc"]
        sku["drop_ship"] = placement == "segmented" and seg.segment == "CZ"
    return skus


def _add_outage(outage: dict[str, Any], nodes: list[dict], lanes: list[dict]) -> None:
    """Put the scheduled ``outage`` on the node or lane it names (in place)."""
    target = {"node", "lane"} & set(outage)
    if len(target) != 1 or set(outage) != target | {"start", "end"}:
        raise ValueError(
            f"env.outage: needs start, end and one of node, lane; got keys {sorted(outage)}"
        )
    kind = target.pop()
    if kind == "node":
        items = {n["name"]: n for n in nodes[1:]}
    else:
        items = {f"{e['source']}->{e['destination']}": e for e in lanes}
    name = outage[kind]
    if name not in items:
        raise ValueError(f"env.outage.{kind}: must be one of {list(items)}, got {name!r}")
    items[name]["disruption"] = {"outages": [{"start": outage["start"], "end": outage["end"]}]}
