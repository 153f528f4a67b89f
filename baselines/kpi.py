"""The one KPI meter: what evaluation reports and what TensorBoard shows during training.

``KPIMeter.add`` takes one period of B envs (the cost components [B] each, the flows and
the end-of-period on-hand), and the meter keeps running sums. ``evaluate`` reads
``summary()``. The SB3 callback and the HDPO trainer log ``tags()`` (the same
``cost/*``, ``service/*``, ``inventory/*``, ``flow/*`` names for every agent).

Definitions, per (env, period) pair after warm-up, for each demand point (a demand node
or a zone) and network-wide:

- fill rate: units of a period's demand served in that period / units demanded (from any
  location's stock or by drop-ship);
- cycle service level: share of periods with no shortage (nothing lost or backlogged);
- order lead time: periods from a customer's order to delivery, i.e. its time in backlog
  plus the fulfilment lane's delivery time (0 for a node's own demand). Its distribution
  (share of units delivered the same period, the next, later) and its mean; the mean is
  Little's law: (sum of delivery times + sum of end-of-period backlog) / units delivered.
  A zone's units carry their age in the state (``State.zone_backlog``); a demand node's
  backlog is first in, first out, so the units it serves from backlog in period t came
  first from the backlog older than one period and then from the units that arose in
  t - 1 (its demand minus the units filled then);
- inventory turns: units delivered to customers per period / mean on-hand of the network;
  per node, units shipped out (to nodes and customers) per period / its mean on-hand;
- total landed cost per unit delivered: every cost component summed / units delivered;
- transfer volume: units shipped on transfer lanes; drop-ship volume: units delivered to
  zones straight from suppliers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from envs.network import Network
from envs.segmentation import abc_xyz

LEAD_TIME_BUCKETS = ("same_period", "next_period", "later")


class KPIMeter:
    """Running sums of the KPIs of B envs over periods (see the module docstring)."""

    def __init__(self, net: Network):
        self.net = net
        d, n = net.num_demand_nodes, net.num_nodes
        self.samples = 0  # (env, period) pairs
        self.costs: dict[str, float] = {}
        self.demand = np.zeros(d)
        self.filled = np.zeros(d)
        self.sales = np.zeros(d)
        self.no_shortage = np.zeros(d)
        self.backlog = np.zeros(d)  # sum of end-of-period backlog (unit-periods waited)
        self.delivery = np.zeros(d)  # sum of delivery time x units delivered
        self.lead_time = np.zeros((d, 3))  # units delivered by order lead time bucket
        self.on_hand = np.zeros(n)
        self.outbound = np.zeros(n)  # units shipped out of each node (lanes + customers)
        self.to_customers = np.zeros(n)
        # Per entity, for each SKU's direct cost (``per_sku``).
        self.lost = np.zeros(d)
        self.shipped = np.zeros(net.num_lanes)
        self.fulfilled = np.zeros(len(net.fulfilment_zone))
        self.overflow = np.zeros(n)
        self.held = np.zeros(n)  # end-of-period on-hand, charged holding (``Flows.held``)
        self.transfer = 0.0
        self.delivered = 0.0  # units delivered to customers (summed as before zones existed)
        self.dropship = 0.0
        # The last period seen, for the age of a demand node's backlog (module docstring).
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def remember(self, flows: Any) -> None:
        """See one period without counting it (the last warm-up period), so the age of the
        backlog served in the first counted period is known."""
        get = flows.get if isinstance(flows, dict) else lambda k: getattr(flows, k)
        d0 = self.net.own_demand_points
        arose = (get("demand") - get("filled"))[:, :d0] * self.net.is_backlog[:d0]
        self._last = (get("backlog")[:, :d0].copy(), arose)

    def add(self, costs: dict[str, np.ndarray], flows: Any, on_hand: np.ndarray) -> None:
        """One period of B envs: cost components [B] by name, ``flows`` with ``demand``,
        ``filled``, ``lost``, ``backlog``, ``sales`` [B, D], ``shipped`` [B, E] and, with
        zones, ``fulfilled`` [B, F] and ``zone_lead_time`` [B, Z, 3] (attributes or keys),
        and the end-of-period on-hand [B, N]."""
        net = self.net
        get = flows.get if isinstance(flows, dict) else lambda k: getattr(flows, k)
        self.samples += len(on_hand)
        for name, value in costs.items():
            self.costs[name] = self.costs.get(name, 0.0) + float(value.sum())
        demand, filled, sales = get("demand"), get("filled"), get("sales")
        self.demand += demand.sum(0)
        self.filled += filled.sum(0)
        self.sales += sales.sum(0)
        self.delivered += float(sales.sum())
        self.no_shortage += ((get("lost") + get("backlog")) == 0).sum(0)
        self.backlog += get("backlog").sum(0)
        self.on_hand += on_hand.sum(0)
        shipped = get("shipped")
        self.transfer += float(shipped[:, net.is_transfer].sum())
        if net.skus is not None:  # per entity, for each SKU's direct cost
            self.lost += get("lost").sum(0)
            self.shipped += shipped.sum(0)
            self.overflow += get("overflow").sum(0)
            self.held += get("held").sum(0)
        np.add.at(self.outbound, net.lane_source, shipped.sum(0))

        # Demand nodes: delivered from their own shelf at once; backlog first in, first out.
        d0 = net.own_demand_points
        own_nodes = net.demand_nodes[:d0]
        own_sales = sales[:, :d0]
        from_backlog = own_sales - filled[:, :d0]
        older = np.zeros_like(from_backlog)
        if self._last is not None:
            last_backlog, last_arose = self._last
            older = np.maximum(last_backlog - last_arose, 0.0)
        from_older = np.minimum(from_backlog, older)
        self.lead_time[:d0, 0] += filled[:, :d0].sum(0)
        self.lead_time[:d0, 1] += (from_backlog - from_older).sum(0)
        self.lead_time[:d0, 2] += from_older.sum(0)
        to_customers = np.zeros(net.num_nodes)
        np.add.at(to_customers, own_nodes, own_sales.sum(0))
        self.remember(flows)

        if net.num_zones:
            fulfilled = get("fulfilled").sum(0)
            self.fulfilled += fulfilled
            self.lead_time[d0:] += get("zone_lead_time").sum(0)
            np.add.at(self.delivery, d0 + net.fulfilment_zone, fulfilled * net.fulfilment_delivery)
            np.add.at(to_customers, net.fulfilment_source, fulfilled)
            self.dropship += float(fulfilled[net.is_supplier[net.fulfilment_source]].sum())
        self.to_customers += to_customers
        self.outbound += to_customers

    def summary(self) -> dict[str, Any]:
        """Per-(env, period) means: ``breakdown`` (cost by component), ``fill_rate``
        (pooled), ``fill_rate_per_node`` and ``cycle_service_level`` [D], ``order_lead_time``
        (share of units by bucket, pooled) and ``order_lead_time_per_point`` [D, 3],
        ``mean_order_lead_time`` (pooled) [periods], ``landed_cost_per_unit``,
        ``mean_on_hand`` [N], ``inventory_turns`` and ``inventory_turns_per_node`` [N],
        ``transfer_volume``, ``dropship_volume``; with several SKUs, ``per_sku``."""
        n = max(self.samples, 1)
        mean_on_hand = self.on_hand / n
        delivered = self.delivered
        total_cost = sum(v for k, v in self.costs.items() if k != "total")
        buckets = self.lead_time.sum(0)
        out = {
            "breakdown": {k: v / n for k, v in self.costs.items()},
            "fill_rate": float(self.filled.sum() / max(self.demand.sum(), 1e-12)),
            "fill_rate_per_node": self.filled / np.maximum(self.demand, 1e-12),
            "cycle_service_level": self.no_shortage / n,
            "order_lead_time": dict(
                zip(LEAD_TIME_BUCKETS, (buckets / max(buckets.sum(), 1e-12)).tolist())
            ),
            "order_lead_time_per_point": self.lead_time
            / np.maximum(self.lead_time.sum(1, keepdims=True), 1e-12),
            "mean_order_lead_time": float(
                (self.delivery.sum() + self.backlog.sum()) / max(delivered, 1e-12)
            ),
            "landed_cost_per_unit": total_cost / max(delivered, 1e-12),
            "mean_on_hand": mean_on_hand,
            "transfer_volume": self.transfer / n,
            "dropship_volume": self.dropship / n,
            "inventory_turns": float((delivered / n) / max(mean_on_hand.sum(), 1e-12)),
            "inventory_turns_per_node": (self.outbound / n) / np.maximum(mean_on_hand, 1e-12),
        }
        if self.net.skus is not None:
            out["per_sku"] = self.per_sku(mean_on_hand, n)
        return out

    def per_sku(self, mean_on_hand: np.ndarray, samples: int) -> dict[str, dict[str, Any]]:
        """Each SKU's ABC/XYZ class (``envs.segmentation``), demand, fill rate, mean order
        lead time (Little's law), the stock nodes that hold it (``locations``), its mean
        on-hand and inventory turns, all its demand points and stock nodes together; its
        ``direct_cost`` per period (holding, handling, overflow, transport, penalties of
        its own copies — not the shared facility and fixed costs, nor in-transit holding)
        and that per unit delivered."""
        net = self.net
        segments = net.derived("abc_xyz", lambda: abc_xyz(net))
        layout = net.skus
        # Direct cost of each entity (summed over samples): everything but what the SKUs
        # share (facility costs, lanes' fixed costs) and in-transit holding.
        penalty = np.where(net.is_backlog, 0.0, net.penalty) * self.lost
        penalty += np.where(net.is_backlog, net.penalty, 0.0) * self.backlog
        by_node = (
            self.held * net.holding_cost
            + self.outbound * net.handling_cost
            + self.overflow * net.overflow_cost
        )
        by_lane = self.shipped * net.unit_cost
        fulfilment = self.fulfilled * net.fulfilment_unit_cost
        fulfilment_sku = layout.point_sku[net.own_demand_points + net.fulfilment_zone]
        out = {}
        for s, seg in enumerate(segments):
            points = layout.point_sku == s
            delivered = self.sales[points].sum()
            on_hand = float(mean_on_hand[layout.node_sku == s].sum())
            direct = (
                penalty[points].sum()
                + by_node[layout.node_sku == s].sum()
                + by_lane[layout.lane_sku == s].sum()
                + fulfilment[fulfilment_sku == s].sum()
            )
            out[seg.name] = {
                "segment": seg.segment,
                "demand": float(self.demand[points].sum() / samples),
                "fill_rate": float(
                    self.filled[points].sum() / max(self.demand[points].sum(), 1e-12)
                ),
                "mean_order_lead_time": float(
                    (self.delivery[points].sum() + self.backlog[points].sum())
                    / max(delivered, 1e-12)
                ),
                "locations": int((~net.is_supplier & (net.skus.node_sku == s)).sum()),
                "mean_on_hand": on_hand,
                "inventory_turns": float((delivered / samples) / max(on_hand, 1e-12)),
                "direct_cost": float(direct / samples),
                "direct_cost_per_unit": float(direct / max(delivered, 1e-12)),
            }
        return out

    def tags(self) -> dict[str, float]:
        """The summary as TensorBoard scalars, named per demand point and node."""
        s, names = self.summary(), self.net.node_names
        out = {f"cost/{k}": float(v) for k, v in s["breakdown"].items()}
        # Not under cost/: the cost/* tags are the components of the cost per period.
        out["landed_cost/per_unit_delivered"] = float(s["landed_cost_per_unit"])
        out["service/fill_rate"] = float(s["fill_rate"])
        out["service/mean_order_lead_time"] = float(s["mean_order_lead_time"])
        for bucket, share in s["order_lead_time"].items():
            out[f"service/order_lead_time/{bucket}"] = float(share)
        for i, point in enumerate(self.net.demand_names):
            out[f"service/fill_rate/{point}"] = float(s["fill_rate_per_node"][i])
            out[f"service/cycle_service_level/{point}"] = float(s["cycle_service_level"][i])
        for node in self.net.stock_nodes:
            out[f"inventory/mean_on_hand/{names[node]}"] = float(s["mean_on_hand"][node])
            out[f"inventory/turns/{names[node]}"] = float(s["inventory_turns_per_node"][node])
        out["inventory/turns"] = float(s["inventory_turns"])
        out["flow/transfer_volume"] = float(s["transfer_volume"])
        out["flow/dropship_volume"] = float(s["dropship_volume"])
        for sku, kpis in s.get("per_sku", {}).items():
            for name in ("fill_rate", "mean_order_lead_time", "inventory_turns"):
                out[f"sku/{sku}/{name}"] = kpis[name]
        return out


def outage_window(net: Network) -> tuple[int, int] | None:
    """First start and last end of the network's scheduled outages (None without)."""
    if not net.outages:
        return None
    return min(o[2] for o in net.outages), max(o[3] for o in net.outages)


def outage_kpis(
    per_period: dict[str, np.ndarray],
    envs: int,
    window: tuple[int, int],
    warmup: int,
    smoothing: int = 5,
    tolerance: float = 0.01,
) -> dict[str, float]:
    """KPIs of a scheduled outage ``window = (start, end)`` from an evaluation's per-period
    sums (``EvalResult.per_period``):

    - ``fill_rate_before`` (periods warmup..start-1) and ``fill_rate_during``;
    - ``lead_time_before`` and ``lead_time_during``: mean order lead time of the units
      delivered then (Little's law over those periods);
    - ``lost_during``: units lost per env during the outage; ``lost_after``: from its end
      until the fill rate recovered;
    - ``recovery_periods``: periods after the end until the fill rate, over envs and a
      ``smoothing``-period window starting there, is back within ``tolerance`` of its level
      before (NaN if it never is within the evaluation).
    """
    start, end = window
    if not warmup < start < end <= len(per_period["demand"]):
        raise ValueError(
            f"outage: window {window} must lie after the warm-up ({warmup}) and within the "
            f"{len(per_period['demand'])} evaluated periods"
        )
    p = per_period

    def ratio(a: str, b: str, lo: int, hi: int) -> float:
        return float(p[a][lo:hi].sum() / max(p[b][lo:hi].sum(), 1e-12))

    before = ratio("filled", "demand", warmup, start)
    recovery = math.nan
    for t in range(end, len(p["demand"]) - smoothing + 1):
        if ratio("filled", "demand", t, t + smoothing) >= before - tolerance:
            recovery = float(t - end)
            break
    after_end = len(p["demand"]) if math.isnan(recovery) else end + int(recovery)
    return {
        "fill_rate_before": before,
        "fill_rate_during": ratio("filled", "demand", start, end),
        "lead_time_before": ratio("waited", "delivered", warmup, start),
        "lead_time_during": ratio("waited", "delivered", start, end),
        "lost_during": float(p["lost"][start:end].sum() / envs),
        "lost_after": float(p["lost"][end:after_end].sum() / envs),
        "recovery_periods": recovery,
    }
