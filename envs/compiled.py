"""The simulator step compiled with numba: one pass over envs, lanes and nodes.

``CompiledStep`` does in one compiled loop what ``Simulator.step`` does with numpy calls:
action mapping (``envs.actions``), the period of ``envs.transition`` (rationing, shipping,
pipeline, demand, costs, arrivals, disruptions), the autoreset and the observation
(``envs.observations``). The env axis is last in the kernel's arrays ([N, B], [E, L, B]),
so each operation on a node or lane (on the network's CSR lane index) is one loop over a
tile of envs, compiled to vector instructions; a step costs O(B * (N + E)) with no Python
overhead per node or lane. ``State`` and ``Flows`` expose those arrays as [B, ...] views.
It models every feature of the reference: demand zones served rank by rank through their
fulfilment lanes (``serve_zones``), drop-ship, facility, handling and fulfilment costs,
scheduled outages, and several SKUs sharing lane capacity, storage and trucks
(``envs.skus``).

The noise comes from ``envs.noise.NoiseStream``'s per-env uniforms, read in place and
turned into demand and lead times in the kernel by the same tables as
``NoiseStream.draw`` (copula or trace demand is drawn by the stream and fed in), so env
i's draws, common random numbers and batch-size independence are unchanged. Every
arithmetic operation is the one of the numpy reference, in the same order and float dtype
(sums over a node's lanes and an env's costs in index order, as ``node_sum``/``env_sum``),
so both give the same bits; ``tests/test_compiled.py`` checks it on every preset and on
random networks.

``transition(net, state, action, noise)`` is the same kernel with the action taken as
quantities and no autoreset or observation: a drop-in for ``envs.transition.transition``
(used by evaluation and tuning). Compiled code is cached on disk (``cache=True``), so only
the first process after an install pays the compilation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

import numba
import numpy as np

from envs.network import Network
from envs.noise import Noise, NoiseStream
from envs.sampling import GUIDE_CELLS, GUIDE_STEPS
from envs.transition import Costs, Flows, State, check_action, env_sum
from envs.transition import transition as numpy_transition

BACKENDS = ("numba", "numpy")

# Action modes as the kernel sees them.
_AS_QUANTITY, _SCALED_QUANTITY, _ORDER_UP_TO = 0, 1, 2
_GUIDE_CELLS, _GUIDE_STEPS = GUIDE_CELLS, GUIDE_STEPS
# Arrays of node, lane and demand-point indices that the kernel indexes with: unsigned, since
# numba indexes with a signed integer through a negative-index fix-up (three instructions
# per access) and with an unsigned one directly. (Integers the kernel does arithmetic on
# stay int64: numba types uint64 +- int64 as float64.)
_INDEX = np.uint64
# Compiled once and cached on disk. Without numba's reference counting (``_nrt``): every
# array the kernel touches belongs to the caller, and the atomic reference-count updates
# of each array passed to an inlined helper or iterated over were half of a step's time.
_JIT = {"cache": True, "error_model": "numpy", "_nrt": False}
# Working rows of one tile of envs at most (bytes), unless a tile of 16 envs needs more.
SCRATCH_BYTES = 128 * 2**20


@numba.njit(**_JIT, inline="always")
def _sum_lanes(x, index_ptr, index_lanes, node, acc, nt, zero):
    """``acc[t]`` = the sum of ``x[e, t]`` over node's lanes, in lane order from zero (as
    ``np.add.at``), for the tile's ``nt`` envs."""
    for t in range(nt):
        acc[t] = zero
    for j in range(index_ptr[node], index_ptr[node + 1]):
        e = index_lanes[j]
        for t in range(nt):
            acc[t] += x[e, t]


@numba.njit(**_JIT)
def _kernel(  # noqa: C901
    flags,
    ints,
    consts,
    nonzero,
    probs,
    action_map,
    layout,
    state0,
    fresh,
    noise,
    sampler,
    out,
    landed_cost,
    zones,
    skus,
    scratch,
):
    """One period of every env, writing into the ``out`` arrays (see ``CompiledStep``).

    The state, the flows and the working rows have the env axis last ([N, B], [E, L, B],
    ...), so each operation on a node or a lane is one loop over a tile's envs, which the
    compiler turns into vector instructions (as Gymnasium's vectorised CartPole): envs
    are independent, so a section done for every env of a tile before the next section
    starts gives each env the same operations in the same order as a loop over envs.
    Per-env branches (a short source, a lead time of one) are selects inside those loops.

    The sections follow ``envs.transition.transition``: 2. decision, 3. demand, 4. costs,
    5. advance; then the autoreset and the observation. Scalars of the state's dtype come
    from ``consts`` (``zero``, ``one``, ...) so no float32 sum is promoted to float64.

    ``landed_cost``, ``zones`` and ``skus`` carry scheduled outages, facility and handling
    costs, demand zones and the SKUs' shared sites (empty arrays where a network has none).
    """
    mode, episode_length, build_obs, masks_down, switches_up, priority = flags
    # Scheduled outages (kind 0: node, 1: lane; down in start <= t < end), the facility
    # cost per period (the reference's env_sum, computed once), handling cost per unit out.
    outage_kind, outage_index, outage_start, outage_end = landed_cost[0]
    charges_nodes, facility_cost, handling_cost, handling_nodes = landed_cost[1]
    # Demand zones (envs.transition.serve_zones): fulfilment lanes rank by rank.
    zone_rank_ptr, zone_rank_lanes, ful_zone, ful_source, ful_delivery = zones[0]
    ful_capacity, ful_unit_cost, zone_is_backlog = zones[1]
    zone_backlog0, zone_backlog, fulfilled, zone_lead_time = zones[2]
    # Several SKUs (envs.skus): each node and lane copy's physical site and volume.
    has_skus, node_site, node_volume, site_storage, lane_site, lane_volume = skus[0]
    lane_site_capacity, truck_ordering, truck_transfer = skus[1]
    # Arrays of one length come as the rows of one matrix: numba unboxes every array
    # argument on every call (~90 ns each), and a row is the same contiguous 1-D array.
    lane_index, node_ptr, is_supplier, demand_nodes, instant = ints
    lane_destination, out_lanes, in_lanes = lane_index[0], lane_index[1], lane_index[2]
    out_ptr, in_ptr = node_ptr[0], node_ptr[1]
    per_node, per_point, per_lane, scalars = consts
    supplier_capacity, storage_capacity = per_node[0], per_node[1]
    holding_cost, overflow_cost = per_node[2], per_node[3]
    backlog_penalty, lost_penalty, is_backlog = per_point[0], per_point[1], per_point[2]
    lane_capacity, fixed_cost, unit_cost = per_lane[0], per_lane[1], per_lane[2]
    is_replenishment, is_transfer, in_transit_holding = per_lane[3], per_lane[4], per_lane[5]
    # Slots that can hold units per lane, and the entries with a nonzero cost weight: a
    # zero-weight term adds +0.0 to an index-order sum, so skipping it keeps the bits.
    slots, holding_nodes, overflow_nodes, backlog_d, lost_d, paid_lanes, repl, trans = nonzero
    node_failure, node_recovery = probs[0][0], probs[0][1]
    lane_failure, lane_recovery = probs[1][0], probs[1][1]
    scale, transfer_lane, rank_ptr, rank_lanes = action_map
    on_hand0, backlog0, pipeline0, period0, node_up0, lane_up0 = state0
    initial_on_hand = fresh
    action, demand_in, lead_time, node_u, lane_u = noise
    # In-kernel noise (when ``sample``): this period's uniforms of env i are uniforms[:, i]
    # (the rows envs.noise.NoiseStream.draw reads), turned into demand (into ``demand_in``)
    # by _draw_demand's guide-table inverse CDF (envs.sampling) and into lead times by
    # counting CDF steps.
    sample, uniforms, n_demand = sampler[0], sampler[1], sampler[2]
    stochastic, lead_steps, lead_support, base_lead = sampler[4]
    # The outputs of one length per env, likewise: rows of one block each (CompiledStep.buffers).
    (node_out, pipeline, period, node_up, lane_up, point_out, lane_out) = out[:7]
    costs, truncated, obs, final_obs, held = out[7:]
    on_hand, backlog, overflow = node_out[0], node_out[1], node_out[2]
    last_demand, flow_demand, sales = point_out[0], point_out[1], point_out[2]
    filled, lost, flow_backlog = point_out[3], point_out[4], point_out[5]
    requested, clipped, shipped, received = lane_out[0], lane_out[1], lane_out[2], lane_out[3]

    zero, tiny, one, inv_scale = scalars[0], scalars[1], scalars[2], scalars[3]
    num_envs, num_lanes = action.shape
    num_nodes = on_hand0.shape[0]
    num_demand = demand_nodes.shape[0]
    num_zones = zone_backlog0.shape[0]
    own_points = num_demand - num_zones
    num_lane_sites = lane_site_capacity.shape[0]
    # Working rows of one tile of envs, allocated once by CompiledStep (see _scratch): the
    # kernel runs without numba's reference counting, so it allocates nothing itself.
    node_rows, lane_rows, zone_rows, site_rows, lane_site_rows, env_rows = scratch[0]
    position, inbound, available, oh = node_rows[0], node_rows[1], node_rows[2], node_rows[3]
    supplier_left, shelf, taken_before = node_rows[4], node_rows[5], node_rows[6]
    debit, sent, units_out = node_rows[7], node_rows[8], node_rows[9]
    base, lane_cost, arriving, landed = lane_rows[0], lane_rows[1], lane_rows[2], lane_rows[3]
    req, ship, wanted = lane_rows[4], lane_rows[5], lane_rows[6]
    zone_old, zone_new, zone_now = zone_rows[0], zone_rows[1], zone_rows[2]
    zone_filled, zone_sales = zone_rows[3], zone_rows[4]
    site_room, site_arriving = site_rows[0], site_rows[1]
    lane_asked = lane_site_rows[0]
    total, before, left = env_rows[0], env_rows[1], env_rows[2]
    quantity = scratch[1]
    lt = scratch[2]
    node_ok, lane_ok = scratch[3]
    tile = quantity.shape[1]
    # What _receive needs to share storage between a site's SKUs (unused without SKUs).
    sites = (has_skus, node_site, node_volume, site_storage, site_room, site_arriving)
    num_stochastic = stochastic.shape[0]
    n_lead = num_stochastic if sample else 0

    # Whether some env's episode ends this period: only then are final observations built.
    some_end = False
    for i in range(num_envs):
        some_end |= period0[i] + 1 >= episode_length
    if sample:  # this period's demand of every env (demand_in is its output here)
        _draw_demand(uniforms, period0, sampler[3], demand_in)
    # Env indices are unsigned: numba indexes with a signed integer through a negative-index
    # fix-up, which would turn each contiguous loop over envs into a gather.
    num_envs_u, tile_u = np.uint64(num_envs), np.uint64(tile)
    for i0 in range(np.uint64(0), num_envs_u, tile_u):
        nt = min(tile_u, num_envs_u - i0)  # env i0 + t of the batch is column t of a row
        # ---- noise of this period
        if sample:
            for e in range(num_lanes):
                for t in range(nt):
                    lt[e, t] = base_lead[e]
            for j in range(num_stochastic):
                e = stochastic[j]
                for t in range(nt):
                    u = uniforms[n_demand + j, i0 + t]
                    k = 0
                    for r in range(lead_steps.shape[0]):
                        k += u >= lead_steps[r, j]
                    lt[e, t] = lead_support[j, k]
        else:
            for e in range(num_lanes):
                for t in range(nt):
                    lt[e, t] = lead_time[e, i0 + t]
        # ---- action mapping (envs.actions.ActionMap.to_quantities), in float64
        if mode == _AS_QUANTITY:
            for e in range(num_lanes):
                for t in range(nt):
                    quantity[e, t] = action[i0 + t, e]
        else:
            for e in range(num_lanes):
                to_transfer, lane_scale = transfer_lane[e], scale[e]
                for t in range(nt):
                    c = min(max(action[i0 + t, e], -1.0), 1.0)
                    unit = max(c, 0.0) if to_transfer else (c + 1.0) * 0.5
                    quantity[e, t] = np.rint(unit * lane_scale)
            if mode == _ORDER_UP_TO:
                # Inventory position: on-hand - backlog + in transit to the node.
                for e in range(num_lanes):
                    for t in range(nt):
                        arriving[e, t] = zero
                    for s in range(slots[e]):
                        for t in range(nt):
                            arriving[e, t] += pipeline0[e, s, i0 + t]
                for n in range(num_nodes):
                    for t in range(nt):
                        inbound[n, t] = backlog0[n, i0 + t]
                for z in range(num_zones):  # a zone's backlog is owed by its first source
                    n = demand_nodes[own_points + z]
                    for t in range(nt):
                        owed = zone_backlog0[z, 0, i0 + t] + zone_backlog0[z, 1, i0 + t]
                        inbound[n, t] += owed
                for n in range(num_nodes):
                    _sum_lanes(arriving, in_ptr, in_lanes, n, total, nt, zero)
                    for t in range(nt):
                        position[n, t] = (on_hand0[n, i0 + t] - inbound[n, t]) + total[t]
                for r in range(rank_ptr.shape[0] - 1):
                    for j in range(rank_ptr[r], rank_ptr[r + 1]):
                        e = rank_lanes[j]
                        d = lane_destination[e]
                        for t in range(nt):
                            order = max(quantity[e, t] - position[d, t], 0.0)
                            quantity[e, t] = order
                            position[d, t] += order

        # ---- 2. decision: clip, ration at short sources, ship
        for e in range(num_lanes):
            cap = lane_capacity[e]
            for t in range(nt):
                base[e, t] = quantity[e, t]  # to the state dtype, as check_action
                wanted[e, t] = np.rint(max(base[e, t], zero))
                req[e, t] = min(wanted[e, t], cap)
        if has_skus:
            _share_lane_capacity(
                req, lane_site, lane_volume, lane_site_capacity, lane_asked, nt, zero, tiny
            )
        if masks_down:
            # Up in the random process and not in a scheduled outage (envs.transition.up_now).
            for n in range(num_nodes):
                for t in range(nt):
                    node_ok[n, t] = node_up0[n, i0 + t]
            for e in range(num_lanes):
                for t in range(nt):
                    lane_ok[e, t] = lane_up0[e, i0 + t]
            for o in range(outage_kind.shape[0]):
                k = outage_index[o]
                for t in range(nt):
                    if outage_start[o] <= period0[i0 + t] < outage_end[o]:
                        if outage_kind[o] == 0:
                            node_ok[k, t] = False
                        else:
                            lane_ok[k, t] = False
        for e in range(num_lanes):
            for t in range(nt):
                r = req[e, t]
                clipped[e, i0 + t] = wanted[e, t] - r
                if masks_down and not lane_ok[e, t]:
                    r = r * zero
                requested[e, i0 + t] = r
                req[e, t] = r
        for n in range(num_nodes):
            supplies = is_supplier[n]
            for t in range(nt):
                a = supplier_capacity[n] if supplies else on_hand0[n, i0 + t]
                if masks_down and not node_ok[n, t]:
                    a = zero
                available[n, t] = a
        for n in range(num_nodes):
            first, last = out_ptr[n], out_ptr[n + 1]
            _sum_lanes(req, out_ptr, out_lanes, n, total, nt, zero)
            # Every env's rationed shipments are computed; where the node is not short
            # (total <= available), the select keeps the request.
            if priority:
                for t in range(nt):
                    before[t] = zero
                for j in range(first, last):
                    e = out_lanes[j]
                    for t in range(nt):
                        rationed = min(max(available[n, t] - before[t], zero), req[e, t])
                        ship[e, t] = rationed if total[t] > available[n, t] else req[e, t]
                        before[t] += req[e, t]
                continue
            for j in range(first, last):
                e = out_lanes[j]
                for t in range(nt):
                    served = min(available[n, t], total[t])
                    denominator = max(total[t], tiny)
                    base[e, t] = np.floor(req[e, t] * served / denominator)
            _sum_lanes(base, out_ptr, out_lanes, n, left, nt, zero)
            for t in range(nt):
                left[t] = available[n, t] - left[t]
                before[t] = zero
            for j in range(first, last):
                e = out_lanes[j]
                for t in range(nt):
                    rest = min(req[e, t] - base[e, t], one)
                    rationed = base[e, t] + min(max(left[t] - before[t], zero), rest)
                    ship[e, t] = rationed if total[t] > available[n, t] else req[e, t]
                    before[t] += rest

        for e in range(num_lanes):
            for t in range(nt):
                shipped[e, i0 + t] = ship[e, t]
        for n in range(num_nodes):  # units each node sends on its lanes (suppliers too)
            _sum_lanes(ship, out_ptr, out_lanes, n, sent[n], nt, zero)
            supplies = is_supplier[n]
            for t in range(nt):
                oh[n, t] = on_hand0[n, i0 + t] - (zero if supplies else sent[n, t])
        # Lead time 0 lands at once.
        for e in range(num_lanes):
            lands = instant[e]
            for t in range(nt):
                landed[e, t] = ship[e, t] if lands and lt[e, t] == 0 else zero
        for n in range(num_nodes):
            _sum_lanes(landed, in_ptr, in_lanes, n, inbound[n], nt, zero)
            for t in range(nt):
                overflow[n, i0 + t] = zero
        _receive(i0, nt, oh, inbound, overflow, storage_capacity, sites, zero, tiny)
        # Pipeline advanced by one period; new shipments with lead time L >= 2 in slot L-2.
        # (Slots beyond slots[e] are never written: the output pipeline starts zeroed. The
        # last used slot is cleared here, so reused output buffers need no clearing.)
        for e in range(num_lanes):
            if slots[e] > 0:
                for t in range(nt):
                    pipeline[e, slots[e] - 1, i0 + t] = zero
            for s in range(slots[e] - 1):
                for t in range(nt):
                    pipeline[e, s, i0 + t] = pipeline0[e, s + 1, i0 + t]
            for t in range(nt):
                arriving[e, t] = pipeline0[e, 0, i0 + t] + (ship[e, t] if lt[e, t] == 1 else zero)
            for t in range(nt):
                if lt[e, t] >= 2:
                    pipeline[e, lt[e, t] - 2, i0 + t] += ship[e, t]

        # ---- 3. demand: backlog first, then this period's demand
        for n in range(num_nodes):
            for t in range(nt):
                backlog[n, i0 + t] = zero
        for d in range(num_demand):
            for t in range(nt):
                flow_demand[d, i0 + t] = demand_in[d, i0 + t]  # drawn or given, in float64
                last_demand[d, i0 + t] = flow_demand[d, i0 + t]
        for d in range(own_points):
            n = demand_nodes[d]
            keeps = is_backlog[d]
            for t in range(nt):
                i = i0 + t
                dem = flow_demand[d, i]
                stock = oh[n, t]
                old_backlog = backlog0[n, i]
                asked = dem + old_backlog
                sold = min(stock, asked)
                shortfall = asked - sold
                oh[n, t] = stock - sold
                kept = shortfall * keeps
                backlog[n, i] = kept
                flow_backlog[d, i] = kept
                lost[d, i] = shortfall - kept
                sales[d, i] = sold
                filled[d, i] = min(dem, max(stock - old_backlog, zero))
        for t in range(nt if num_zones else np.uint64(0)):  # zones: env by env
            i = i0 + t
            # Suppliers drop-ship what their capacity has left after this period's orders.
            for n in range(num_nodes):
                supplier_left[n, t] = supplier_capacity[n] - sent[n, t] if is_supplier[n] else zero
            for z in range(num_zones):
                zone_new[z, t] = zone_backlog0[z, 0, i]
                zone_old[z, t] = zone_backlog0[z, 1, i]
                zone_now[z, t] = flow_demand[own_points + z, i]
                zone_filled[z, t] = zero
                zone_sales[z, t] = zero
                for c in range(3):
                    zone_lead_time[z, c, i] = zero
            for r in range(zone_rank_ptr.shape[0] - 1):
                # The shelf as the rank finds it; lanes of the rank sharing a source are
                # served in zone order (units asked by earlier ones come first).
                for n in range(num_nodes):
                    shelf[n, t] = supplier_left[n, t] if is_supplier[n] else oh[n, t]
                    if masks_down and not node_ok[n, t]:
                        shelf[n, t] = zero
                    taken_before[n, t] = zero
                    debit[n, t] = zero
                for j in range(zone_rank_ptr[r], zone_rank_ptr[r + 1]):
                    f = zone_rank_lanes[j]
                    z, src = ful_zone[f], ful_source[f]
                    ask = (zone_old[z, t] + zone_new[z, t]) + zone_now[z, t]
                    request = min(ask, ful_capacity[f])
                    take = min(max(shelf[src, t] - taken_before[src, t], zero), request)
                    taken_before[src, t] += request
                    debit[src, t] += take
                    from_old = min(take, zone_old[z, t])
                    from_new = min(take - from_old, zone_new[z, t])
                    from_now = take - from_old - from_new
                    zone_old[z, t] -= from_old
                    zone_new[z, t] -= from_new
                    zone_now[z, t] -= from_now
                    fulfilled[f, i] = take
                    zone_filled[z, t] += from_now
                    delivery = ful_delivery[f]
                    zone_lead_time[z, min(delivery, 2), i] += from_now
                    zone_lead_time[z, min(delivery + 1, 2), i] += from_new
                    zone_lead_time[z, 2, i] += from_old
                for n in range(num_nodes):
                    if is_supplier[n]:
                        supplier_left[n, t] -= debit[n, t]
                    else:
                        oh[n, t] -= debit[n, t]
            for f in range(ful_zone.shape[0]):
                zone_sales[ful_zone[f], t] += fulfilled[f, i]
            for z in range(num_zones):
                d = own_points + z
                arose = zone_now[z, t] * zone_is_backlog[z]
                older = zone_old[z, t] + zone_new[z, t]
                sales[d, i] = zone_sales[z, t]
                filled[d, i] = zone_filled[z, t]
                lost[d, i] = zone_now[z, t] - arose
                zone_backlog[z, 0, i] = arose
                zone_backlog[z, 1, i] = older
                flow_backlog[d, i] = arose + older

        # ---- 4. costs on the end-of-period state, each env's sums in index order (the
        # in-transit terms in two rows, then added, as the reference; the rest summed in
        # place in the cost rows)
        pipe_cost, arriving_cost = total, before
        for t in range(nt):
            pipe_cost[t] = zero
            arriving_cost[t] = zero
        for e in paid_lanes:
            weight = in_transit_holding[e]
            for s in range(slots[e]):
                for t in range(nt):
                    pipe_cost[t] += pipeline[e, s, i0 + t] * weight
        for e in paid_lanes:
            weight = in_transit_holding[e]
            for t in range(nt):
                arriving_cost[t] += arriving[e, t] * weight
        for c in range(10):
            for t in range(nt):
                costs[c, i0 + t] = zero
        for t in range(nt):
            costs[1, i0 + t] = pipe_cost[t] + arriving_cost[t]
        for e in range(num_lanes):
            for t in range(nt):
                lane_cost[e, t] = (fixed_cost[e] if ship[e, t] > 0 else zero) + (
                    ship[e, t] * unit_cost[e]
                )
        for n in holding_nodes:
            weight = holding_cost[n]
            for t in range(nt):
                costs[0, i0 + t] += oh[n, t] * weight
        if held.shape[0] > 0:  # several SKUs: the stock charged holding, per node
            for n in range(num_nodes):
                for t in range(nt):
                    held[n, i0 + t] = oh[n, t]
        for d in backlog_d:
            weight = backlog_penalty[d]
            for t in range(nt):
                costs[2, i0 + t] += flow_backlog[d, i0 + t] * weight
        for d in lost_d:
            weight = lost_penalty[d]
            for t in range(nt):
                costs[3, i0 + t] += lost[d, i0 + t] * weight
        for e in repl:
            weight = is_replenishment[e]
            for t in range(nt):
                costs[5, i0 + t] += lane_cost[e, t] * weight
        for e in trans:
            weight = is_transfer[e]
            for t in range(nt):
                costs[6, i0 + t] += lane_cost[e, t] * weight
        if charges_nodes:
            # Units shipped out of each node: on lanes, to its own customers, to zones.
            for n in range(num_nodes):
                for t in range(nt):
                    units_out[n, t] = sent[n, t]
            for d in range(own_points):
                n = demand_nodes[d]
                for t in range(nt):
                    units_out[n, t] += sales[d, i0 + t]
            for f in range(ful_zone.shape[0]):
                n, weight = ful_source[f], ful_unit_cost[f]
                for t in range(nt):
                    units_out[n, t] += fulfilled[f, i0 + t]
                    costs[9, i0 + t] += fulfilled[f, i0 + t] * weight
            for n in handling_nodes:
                weight = handling_cost[n]
                for t in range(nt):
                    costs[8, i0 + t] += units_out[n, t] * weight
            for t in range(nt):
                costs[7, i0 + t] = facility_cost[0]
        if has_skus:
            # One truck per physical lane: its fixed cost once per period in which it ships.
            truck_o, truck_t = total, before
            for g in range(num_lane_sites):
                for t in range(nt):
                    lane_asked[g, t] = zero
            for e in range(num_lanes):
                g = lane_site[e]
                for t in range(nt):
                    lane_asked[g, t] += ship[e, t]
            for t in range(nt):
                truck_o[t] = zero
                truck_t[t] = zero
            for g in range(num_lane_sites):
                for t in range(nt):
                    ships = one if lane_asked[g, t] > 0 else zero
                    truck_o[t] += ships * truck_ordering[g]
                    truck_t[t] += ships * truck_transfer[g]
            for t in range(nt):
                costs[5, i0 + t] = costs[5, i0 + t] + truck_o[t]
                costs[6, i0 + t] = costs[6, i0 + t] + truck_t[t]

        # ---- 5. advance to t+1: arrivals land (overflow disposed of), disruptions switch
        for n in range(num_nodes):
            _sum_lanes(arriving, in_ptr, in_lanes, n, inbound[n], nt, zero)
        _receive(i0, nt, oh, inbound, overflow, storage_capacity, sites, zero, tiny)
        for n in overflow_nodes:
            weight = overflow_cost[n]
            for t in range(nt):
                costs[4, i0 + t] += overflow[n, i0 + t] * weight
        for t in range(nt):
            i = i0 + t
            costs[10, i] = (
                (costs[0, i] + costs[1, i] + costs[2, i] + costs[3, i] + costs[4, i])
                + costs[5, i]
                + costs[6, i]
                + costs[7, i]
                + costs[8, i]
                + costs[9, i]
            )
        for e in range(num_lanes):
            for t in range(nt):
                received[e, i0 + t] = landed[e, t] + arriving[e, t]
        for n in range(num_nodes):
            for t in range(nt):
                u_up = node_up0[n, i0 + t]
                if switches_up:
                    j = n_demand + n_lead + n
                    u = uniforms[j, i0 + t] if sample else node_u[n, i0 + t]
                    u_up = u >= node_failure[n] if u_up else u < node_recovery[n]
                node_up[n, i0 + t] = u_up
        for e in range(num_lanes):
            for t in range(nt):
                u_up = lane_up0[e, i0 + t]
                if switches_up:
                    j = n_demand + n_lead + num_nodes + e
                    u = uniforms[j, i0 + t] if sample else lane_u[e, i0 + t]
                    u_up = u >= lane_failure[e] if u_up else u < lane_recovery[e]
                lane_up[e, i0 + t] = u_up
        for t in range(nt):
            period[i0 + t] = period0[i0 + t] + 1
            truncated[i0 + t] = period[i0 + t] >= episode_length
        for n in range(num_nodes):
            for t in range(nt):
                on_hand[n, i0 + t] = oh[n, t]

        # ---- autoreset and observation
        if not build_obs:
            continue
        state_out = (on_hand, backlog, pipeline, period, node_up, lane_up, last_demand)
        if not some_end:  # no env ends this period: the observation is all there is
            _observe(i0, nt, obs, state_out, inv_scale, layout)
            continue
        _observe(i0, nt, final_obs, state_out, inv_scale, layout)
        ended = 0
        for i in range(i0, i0 + nt):
            if not truncated[i]:
                continue
            ended += 1
            for n in range(num_nodes):
                on_hand[n, i] = initial_on_hand[n]
                backlog[n, i] = zero
                node_up[n, i] = True
            for e in range(num_lanes):
                lane_up[e, i] = True
                for s in range(slots[e]):
                    pipeline[e, s, i] = zero
            for d in range(num_demand):
                last_demand[d, i] = zero
            for z in range(num_zones):
                zone_backlog[z, 0, i] = zero
                zone_backlog[z, 1, i] = zero
            period[i] = 0
        if ended:  # (envs that did not end get their final observation again; rare: a
            # step where episodes end, and in lockstep they end in every tile)
            _observe(i0, nt, obs, state_out, inv_scale, layout)
        else:
            for i in range(i0, i0 + nt):
                for f in range(obs.shape[1]):
                    obs[i, f] = final_obs[i, f]


@numba.njit(**_JIT)
def _draw_demand(uniforms, period0, tables, out):
    """Demand [D, B] of every env in this period from its uniforms ``uniforms[:D, i]`` (as
    ``envs.sampling.StackedInverseCDF.sample``): the guide-table inverse CDF, finished by
    bisection in the few wide cells. Its own function (not inlined into the kernel), so
    the loop keeps its tables in registers instead of reloading them from the stack."""
    cdf, offsets, lengths, guide, wide, first_row, node_period = tables
    for d in range(out.shape[0]):
        seasonal = node_period[d] > 1
        for i in range(out.shape[1]):
            u = uniforms[d, i]
            row = first_row[d]
            if seasonal:  # (an integer division costs ~40 cycles: seasons only)
                row += period0[i] % node_period[d]
            key = row * _GUIDE_CELLS + np.int64(u * _GUIDE_CELLS)
            start = offsets[row]
            value = guide[key]
            for _ in range(_GUIDE_STEPS):
                if cdf[start + value] <= u:
                    value += 1
            if wide[key]:  # count of the row's CDF entries <= u, by bisection
                lo, hi = 0, lengths[row]
                while lo < hi:
                    mid = (lo + hi) // 2
                    if cdf[start + mid] <= u:
                        lo = mid + 1
                    else:
                        hi = mid
                value = lo
            out[d, i] = value


@numba.njit(**_JIT, inline="always")
def _receive(i0, nt, oh, inbound, overflow, storage_capacity, sites, zero, tiny):
    """Land ``inbound`` [N, tile] on ``oh``; what does not fit is added to ``overflow``
    [N, B] at envs ``i0 + t`` (envs.transition._receive: per node, or per physical site
    in volume units with SKUs; ``sites`` is (has_skus, node_site, node_volume,
    site_storage) and two working rows)."""
    has_skus, node_site, node_volume, site_storage, site_room, site_arriving = sites
    num_nodes = oh.shape[0]
    if not has_skus:
        for n in range(num_nodes):
            capacity = storage_capacity[n]
            for t in range(nt):
                stock = oh[n, t] + inbound[n, t]
                spill = max(stock - capacity, zero)
                oh[n, t] = stock - spill
                overflow[n, i0 + t] += spill
        return
    for h in range(site_room.shape[0]):
        for t in range(nt):
            site_room[h, t] = zero
            site_arriving[h, t] = zero
    for n in range(num_nodes):  # node order, as np.add.at
        h, volume = node_site[n], node_volume[n]
        for t in range(nt):
            site_room[h, t] += oh[n, t] * volume
            site_arriving[h, t] += inbound[n, t] * volume
    for h in range(site_room.shape[0]):
        for t in range(nt):
            site_room[h, t] = max(site_storage[h] - site_room[h, t], zero)
    for n in range(num_nodes):
        h = node_site[n]
        for t in range(nt):
            kept = inbound[n, t]
            if site_arriving[h, t] > site_room[h, t]:
                room = site_room[h, t] if np.isfinite(site_room[h, t]) else zero
                kept = np.floor(inbound[n, t] * room / max(site_arriving[h, t], tiny))
            oh[n, t] += kept
            overflow[n, i0 + t] += inbound[n, t] - kept


@numba.njit(**_JIT, inline="always")
def _share_lane_capacity(req, lane_site, lane_volume, lane_site_capacity, asked, nt, zero, tiny):
    """The SKUs' copies of a lane share its capacity in volume units
    (envs.transition.share_lane_capacity), in place on ``req`` [E, tile]."""
    for g in range(asked.shape[0]):
        for t in range(nt):
            asked[g, t] = zero
    for e in range(req.shape[0]):
        g, volume = lane_site[e], lane_volume[e]
        for t in range(nt):
            asked[g, t] += req[e, t] * volume
    for e in range(req.shape[0]):
        g = lane_site[e]
        capacity = lane_site_capacity[g]
        finite = capacity if np.isfinite(capacity) else zero
        for t in range(nt):
            if asked[g, t] > capacity:
                req[e, t] = np.floor(req[e, t] * finite / max(asked[g, t], tiny))


@numba.njit(**_JIT, inline="always")
def _observe(i0, nt, obs, state, inv_scale, layout):
    """Rows ``i0 .. i0 + nt - 1`` of the observation (envs.observations.ObservationLayout
    .build) from the env-last state arrays, feature by feature."""
    on_hand, backlog, pipeline, period, node_up, lane_up, last_demand = state
    obs_stock, obs_backlog, pipe_lane, pipe_slot, season, season_table, flags = layout
    flag_nodes, flag_lanes = flags
    f = 0
    for n in obs_stock:
        for t in range(nt):
            obs[i0 + t, f] = on_hand[n, i0 + t] * inv_scale
        f += 1
    for n in obs_backlog:
        for t in range(nt):
            obs[i0 + t, f] = backlog[n, i0 + t] * inv_scale
        f += 1
    for j in range(pipe_lane.shape[0]):
        e, s = pipe_lane[j], pipe_slot[j]
        for t in range(nt):
            obs[i0 + t, f] = pipeline[e, s, i0 + t] * inv_scale
        f += 1
    for d in range(last_demand.shape[0]):
        for t in range(nt):
            obs[i0 + t, f] = last_demand[d, i0 + t] * inv_scale
        f += 1
    if season > 1:
        for t in range(nt):
            phase = period[i0 + t] % season
            obs[i0 + t, f] = season_table[phase, 0]
            obs[i0 + t, f + 1] = season_table[phase, 1]
        f += 2
    for n in flag_nodes:
        for t in range(nt):
            obs[i0 + t, f] = 1.0 if node_up[n, i0 + t] else 0.0
        f += 1
    for e in flag_lanes:
        for t in range(nt):
            obs[i0 + t, f] = 1.0 if lane_up[e, i0 + t] else 0.0
        f += 1


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed blocks in the heap instead of handing them back to the OS (glibc only).

    Every step allocates its outputs afresh (a caller may keep them). glibc serves blocks
    over 128 KiB with mmap and returns them on free, so each period page-faulted ~1 MB back
    in: at 1024 envs that cost more than the kernel. Raising the mmap and trim thresholds
    (``mallopt``, as ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` would) lets the
    next step reuse the memory. Returns whether the thresholds were set.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = mallopt(m_mmap_threshold, 64 * 2**20) and mallopt(m_trim_threshold, 256 * 2**20)
    return bool(ok)


@dataclass
class StepBuffers:
    """The arrays one compiled step writes (``CompiledStep.buffers``): the next state, the
    flows, the costs, the truncation flags and the final observations ([B, ...] views), and
    the same arrays as the kernel takes them, env axis last (``out`` before and after the
    fresh ``obs``, and the zone arrays). Arrays of one shape are the rows of one block
    there (per node: on-hand, backlog, overflow; per demand point: last demand, demand,
    sales, filled, lost, backlog; per lane: requested, clipped, shipped, received; the cost
    components and total)."""

    state: State
    flows: Flows
    costs: Costs
    truncated: np.ndarray
    final_obs: np.ndarray
    kernel_out: tuple[tuple, tuple]
    zone_out: tuple


class CompiledStep:
    """The fused step of B envs of one network (the ``numba`` backend of ``Simulator``).

    Args:
        net: the network.
        dtype: float type of the state and costs (float32 or float64).
        actions: the action map; None takes actions as quantities per lane (``raw``).
        layout: the observation layout; None builds no observation.
        episode_length: periods per episode (envs reset in the step that reaches it).
    """

    def __init__(
        self,
        net: Network,
        dtype: np.dtype,
        actions=None,
        layout=None,
        episode_length: int = 2**62,
    ):
        self.net = net
        self.dtype = np.dtype(dtype)
        keep_freed_memory()
        k = net.typed(self.dtype)
        mode = _AS_QUANTITY
        if actions is not None and actions.mode == "quantity":
            mode = _SCALED_QUANTITY
        elif actions is not None and actions.mode == "order_up_to":
            mode = _ORDER_UP_TO
        switches_up = net.has_disruptions
        self._flags = (
            mode,
            int(episode_length),
            layout is not None,
            bool(net.has_disruptions or net.outages),
            bool(switches_up),
            net.rationing == "priority",
        )
        instant = np.zeros(net.num_lanes, dtype=bool)
        instant[net.instant_lanes] = True
        self._ints = (
            np.stack(
                [
                    net.lane_destination.astype(_INDEX),
                    net.lanes_out.lanes.astype(_INDEX),
                    net.lanes_in.lanes.astype(_INDEX),
                ]
            ),
            np.stack([net.lanes_out.ptr, net.lanes_in.ptr]).astype(_INDEX),
            net.is_supplier.astype(bool),
            net.demand_nodes.astype(_INDEX),
            instant,
        )
        scale = 1.0 if layout is None else layout.scale
        scalars = np.array([0.0, 1e-12, 1.0, 1.0 / scale], dtype=self.dtype)
        self._consts = (  # one matrix per length: rows per node, per demand point, per lane
            np.stack([k.supplier_capacity, k.storage_capacity, k.holding_cost, k.overflow_cost]),
            np.stack([k.backlog_penalty, k.lost_penalty, k.is_backlog]),
            np.stack(
                [
                    k.lane_capacity,
                    k.fixed_cost,
                    k.unit_cost,
                    k.is_replenishment,
                    k.is_transfer,
                    k.in_transit_holding,
                ]
            ),
            scalars,
        )

        def nonzero(weights):
            return np.flatnonzero(weights).astype(_INDEX)

        longest = np.array([lt.max for lt in net.lead_times], dtype=np.int64)
        self._nonzero = (
            np.maximum(longest - 1, 0),
            nonzero(k.holding_cost),
            nonzero(k.overflow_cost),
            nonzero(k.backlog_penalty),
            nonzero(k.lost_penalty),
            nonzero(k.in_transit_holding),
            nonzero(k.is_replenishment),
            nonzero(k.is_transfer),
        )
        self._probs = (
            np.stack([net.node_failure, net.node_recovery]).astype(np.float64),
            np.stack([net.lane_failure, net.lane_recovery]).astype(np.float64),
        )
        if actions is None:
            self._action_map = (
                np.zeros(net.num_lanes),
                net.is_transfer.astype(bool),
                np.zeros(1, dtype=_INDEX),
                np.zeros(0, dtype=_INDEX),
            )
        else:
            ranks = actions.replenish_by_rank
            ptr = np.zeros(len(ranks) + 1, dtype=_INDEX)
            np.cumsum([len(r) for r in ranks], out=ptr[1:])
            lanes = np.concatenate(ranks).astype(_INDEX) if ranks else np.zeros(0, _INDEX)
            self._action_map = (
                np.asarray(actions.scale, dtype=np.float64),
                net.is_transfer.astype(bool),
                ptr,
                lanes,
            )
        empty_idx = np.zeros(0, dtype=_INDEX)
        if layout is None:
            self._layout = (
                empty_idx,
                empty_idx,
                empty_idx,
                empty_idx,
                1,
                np.zeros((1, 2), dtype=np.float32),
                (empty_idx, empty_idx),
            )
            self.num_features = 0
        else:
            self._layout = (
                np.asarray(layout.stock_nodes, dtype=_INDEX),
                np.asarray(layout.backlog_nodes, dtype=_INDEX),
                np.asarray(layout.pipe_flat // net.pipeline_length, dtype=_INDEX),
                np.asarray(layout.pipe_flat % net.pipeline_length, dtype=_INDEX),
                int(layout.season),
                layout.season_table,
                (
                    np.asarray(layout.flag_nodes, dtype=_INDEX),
                    np.asarray(layout.flag_lanes, dtype=_INDEX),
                ),
            )
            self.num_features = len(layout.names)
        self._landed_cost, self._zones, self._skus = _feature_arrays(net, self.dtype)
        self._scratch_by_tile: dict[int, tuple] = {}
        self._scratch_bytes_per_env = _nbytes(_scratch(net, self.dtype, 1))
        self._fresh = net.initial_on_hand.astype(self.dtype)
        self._no_uniforms = np.zeros((0, 0))
        self._demand_by_size: dict[int, np.ndarray] = {}
        self._tables = None
        # The noise arrays passed when the kernel draws the noise itself (all empty; the
        # demand rows it draws into come from _demand_rows).
        self._no_noise = (
            np.zeros((0, 0), dtype=np.int64),
            self._no_uniforms,
            self._no_uniforms,
        )
        i0, f0 = np.zeros(1, dtype=np.int64), np.zeros(1)
        self._no_sampler = (
            False,
            np.zeros((0, 0)),
            0,
            (f0, i0, i0, i0, np.zeros(1, dtype=bool), i0, i0),
            (i0[:0], np.zeros((0, 0)), np.zeros((0, 1), dtype=np.int64), i0),
        )

    def _scratch(self, num_envs: int) -> tuple:
        """The kernel's working rows for ``num_envs`` envs, one tile's worth (kept per tile)."""
        tile = tile_size(self._scratch_bytes_per_env, num_envs)
        rows = self._scratch_by_tile.get(tile)
        if rows is None:
            rows = self._scratch_by_tile[tile] = _scratch(self.net, self.dtype, tile)
        return rows

    def _demand_rows(self, num_envs: int) -> np.ndarray:
        """The [D, B] float64 rows the kernel draws a period's demand into (kept per B:
        the kernel reads them in the same call, so one array serves every step)."""
        rows = self._demand_by_size.get(num_envs)
        if rows is None:
            rows = self._demand_by_size[num_envs] = np.empty((self.net.num_demand_nodes, num_envs))
        return rows

    def buffers(self, num_envs: int) -> StepBuffers:
        """Fresh arrays for one step's outputs (state, flows, costs) of ``num_envs`` envs."""
        b, n, e = num_envs, self.net.num_nodes, self.net.num_lanes
        d, z = self.net.num_demand_nodes, self.net.num_zones
        f, length = len(self.net.fulfilment_zone), self.net.pipeline_length
        dt = self.dtype
        # The kernel's arrays have the env axis last; the State and Flows fields are their
        # transposed views, [B, ...] as everywhere else. Arrays of one shape are the rows of
        # one block, which the kernel takes as one argument (numba unboxes every array
        # argument on every call, ~90 ns each).
        node_out = np.empty((3, n, b), dt)  # on-hand, backlog, overflow
        point_out = np.empty((6, d, b), dt)  # last demand, demand, sales, filled, lost, backlog
        lane_out = np.empty((4, e, b), dt)  # requested, clipped, shipped, received
        pipeline = np.zeros((e, length, b), dt)
        period = np.empty(b, np.int64)
        node_up, lane_up = np.empty((n, b), bool), np.empty((e, b), bool)
        zone_backlog = np.empty((z, 2, b), dt)
        fulfilled = np.empty((f, b), dt)
        zone_lead_time = np.empty((z, 3, b), dt)
        held = np.empty((n if self.net.skus is not None else 0, b), dt)
        state = State(
            on_hand=node_out[0].T,
            backlog=node_out[1].T,
            pipeline=pipeline.transpose(2, 0, 1),
            period=period,
            node_up=node_up.T,
            lane_up=lane_up.T,
            last_demand=point_out[0].T,
            zone_backlog=zone_backlog.transpose(2, 0, 1) if z else None,
        )
        flows = Flows(
            requested=lane_out[0].T,
            clipped=lane_out[1].T,
            shipped=lane_out[2].T,
            received=lane_out[3].T,
            overflow=node_out[2].T,
            demand=point_out[1].T,
            sales=point_out[2].T,
            filled=point_out[3].T,
            lost=point_out[4].T,
            backlog=point_out[5].T,
            fulfilled=fulfilled.T if z else None,
            zone_lead_time=zone_lead_time.transpose(2, 0, 1) if z else None,
            held=held.T if self.net.skus is not None else None,
        )
        rows = np.empty((11, b), dt)
        costs = Costs(*rows[:10])
        costs.total = rows[10]  # the kernel's sum, in the order of Costs.total
        truncated = np.empty(b, bool)
        final_obs = np.empty((b, self.num_features), np.float32)
        rest = (pipeline, period, node_up, lane_up)  # the state's arrays, unblocked
        return StepBuffers(
            state,
            flows,
            costs,
            truncated,
            final_obs,
            ((node_out, *rest, point_out, lane_out, rows, truncated), (final_obs, held)),
            (zone_backlog, fulfilled, zone_lead_time),
        )

    def __call__(
        self,
        state: State,
        action: np.ndarray,
        noise: Noise | NoiseStream,
        out: StepBuffers | None = None,
    ) -> tuple[State, Costs, Flows, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """One period of every env: ``(next_state, costs, flows, truncated, obs, final_obs)``.

        ``action`` [B, E] is in the action map's mode (float64, already validated finite);
        ``noise`` is this period's draws, or the stream to draw them from (in the kernel,
        where the demand model allows: no trace, no copula). ``next_state`` is after the
        autoreset; ``obs`` is None without a layout and ``final_obs`` None unless some
        env's episode ended. ``out`` (from ``buffers``, not ``state``'s own) is written
        instead of fresh arrays, and ``next_state``, ``costs``, ``flows`` and ``truncated``
        are its arrays; ``obs`` and ``final_obs`` are always new arrays.
        """
        b = state.num_envs
        dt = self.dtype
        if state.on_hand.dtype != dt:
            raise ValueError(f"state: dtype {state.on_hand.dtype} differs from the step's {dt}")
        reused = out is not None
        if out is None:
            out = self.buffers(b)
        nxt, flows, truncated = out.state, out.flows, out.truncated
        obs = np.empty((b, self.num_features), np.float32)
        sampler = self._no_sampler
        if isinstance(noise, NoiseStream):
            if self._tables is None:  # constants of the network: built on first use
                self._tables = (self.net.demand.inverse_cdf_tables(), noise.lead_time_tables)
            demand_tables, lead_tables = self._tables
            if demand_tables is None:
                noise = noise.draw(state.period)
            else:
                uniforms = noise.next_uniforms()
                n_demand = noise.num_demand_uniforms
                sampler = (True, uniforms, n_demand, demand_tables, lead_tables)
        action = np.ascontiguousarray(action, dtype=np.float64)
        if sampler[0]:  # the kernel draws the noise into the demand rows it is given
            flags = self._flags  # disruptions switch exactly where the network has them
            drawn = (action, self._demand_rows(b), *self._no_noise)
        else:
            switches = noise.node_disruption is not None
            flags = self._flags[:4] + (self._flags[4] and switches,) + self._flags[5:]
            no = self._no_uniforms
            node_u = noise.node_disruption if switches else no
            lane_u = noise.lane_disruption if noise.lane_disruption is not None else no
            drawn = (
                action,
                np.ascontiguousarray(noise.demand.T, dtype=np.float64),  # [D, B]
                np.ascontiguousarray(noise.lead_time.T, dtype=np.int64),  # env axis last
                np.ascontiguousarray(node_u.T, dtype=np.float64),
                np.ascontiguousarray(lane_u.T, dtype=np.float64),
            )
        # The state as the kernel reads it, env axis last: a step's own state (views of its
        # env-last arrays) as it is; any other state (a reset, a caller's) is copied so.
        state0 = (
            np.ascontiguousarray(state.on_hand.T),
            np.ascontiguousarray(state.backlog.T),
            np.ascontiguousarray(state.pipeline.transpose(1, 2, 0)),
            np.ascontiguousarray(state.period, dtype=np.int64),
            np.ascontiguousarray(state.node_up.T),
            np.ascontiguousarray(state.lane_up.T),
        )
        zones = self._zones
        if self.net.num_zones:
            zone_backlog0 = np.ascontiguousarray(state.zone_backlog.transpose(1, 2, 0))
            zones = (zones[0], zones[1], (zone_backlog0, *out.zone_out))
        before_obs, after_obs = out.kernel_out
        _kernel(
            flags,
            self._ints,
            self._consts,
            self._nonzero,
            self._probs,
            self._action_map,
            self._layout,
            state0,
            self._fresh,
            drawn,
            sampler,
            before_obs + (obs,) + after_obs,
            self._landed_cost,
            zones,
            self._skus,
            self._scratch(b),
        )
        if not self._flags[2]:
            return nxt, out.costs, flows, truncated, None, None
        if not np.count_nonzero(truncated):  # (ndarray.any is a Python-level wrapper)
            return nxt, out.costs, flows, truncated, obs, None
        final_obs = out.final_obs.copy() if reused else out.final_obs  # reused: overwritten
        return nxt, out.costs, flows, truncated, obs, final_obs


def tile_size(bytes_per_env: int, num_envs: int) -> int:
    """Envs per tile of the kernel: up to 256, the longer the loops over envs the better
    they use vector instructions, but no more than keep the working rows
    (``bytes_per_env`` each) within ``SCRATCH_BYTES`` (16 at least, a multiple of 16 below
    256), and no more than ``num_envs``."""
    tile = max(16, min(256, SCRATCH_BYTES // max(bytes_per_env, 1) // 16 * 16))
    return min(tile, num_envs)


def _nbytes(arrays) -> int:
    """Bytes of the arrays in a nest of tuples (``_scratch``)."""
    if isinstance(arrays, np.ndarray):
        return arrays.nbytes
    return sum(_nbytes(a) for a in arrays)


def _scratch(net: Network, dtype: np.dtype, tile: int) -> tuple:
    """The kernel's working rows for a tile of envs (``scratch``), [rows, length, tile],
    overwritten tile by tile: 10 per node, 7 per lane, 5 per zone, 2 per SKU site, 1 per
    physical lane and 3 per env in the state dtype; the lanes' quantities in float64; lead
    times; up flags."""
    n, e = net.num_nodes, net.num_lanes
    k = net.typed(dtype)
    sites, lane_sites = len(k.site_storage), len(k.lane_site_capacity)
    rows = [(10, n), (7, e), (5, net.num_zones), (2, sites), (1, lane_sites)]
    return (
        tuple(np.empty((*shape, tile), dtype=dtype) for shape in rows)  # one block per length
        + (np.empty((3, tile), dtype=dtype),),
        np.empty((e, tile)),
        np.empty((e, tile), dtype=np.int64),
        (np.empty((n, tile), dtype=bool), np.empty((e, tile), dtype=bool)),
    )


def _feature_arrays(net: Network, dtype: np.dtype) -> tuple[tuple, tuple, tuple]:
    """The kernel's ``landed_cost``, ``zones`` and ``skus`` arguments (the zones' per-call
    state and output arrays as empty stand-ins): empty arrays where the network has none,
    so every network shares one compiled specialisation per dtype."""
    k = net.typed(dtype)
    no_index, no_float = np.zeros(0, dtype=_INDEX), np.zeros(0, dtype=dtype)
    kinds = {"node": 0, "lane": 1}
    outages = tuple(
        np.array([o[c] if c else kinds[o[0]] for o in net.outages], dtype=np.int64)
        for c in range(4)
    )
    # Every open node's fixed cost, summed as the reference sums it (the same each period).
    facility = env_sum(np.ones((1, net.num_nodes), dtype=dtype), k.facility_cost)
    landed_cost = (
        outages,
        (
            net.charges_nodes,
            facility.astype(dtype),
            k.handling_cost,
            np.flatnonzero(k.handling_cost).astype(_INDEX),
        ),
    )
    ranks = net.fulfilment_ranks
    ptr = np.zeros(len(ranks) + 1, dtype=_INDEX)
    np.cumsum([len(r.lanes) for r in ranks], out=ptr[1:])
    lanes = np.concatenate([r.lanes for r in ranks]).astype(_INDEX) if ranks else no_index
    zones = (
        (
            ptr,
            lanes,
            net.fulfilment_zone.astype(_INDEX),
            net.fulfilment_source.astype(_INDEX),
            net.fulfilment_delivery.astype(np.int64),
        ),
        (
            k.fulfilment_capacity,
            k.fulfilment_unit_cost,
            k.is_backlog[net.own_demand_points :].copy(),
        ),
        # Stand-ins for the zone state and flows (the zone backlog before and after the
        # step, the units fulfilled, the lead-time buckets), replaced per call with zones.
        (
            np.zeros((0, 0, 2), dtype=dtype),
            np.zeros((0, 0, 2), dtype=dtype),
            np.zeros((0, 0), dtype=dtype),
            np.zeros((0, 0, 2), dtype=dtype),
        ),
    )
    layout = net.skus
    if layout is None:
        skus = (
            (False, no_index, no_float, no_float, no_index, no_float),
            (no_float, no_float, no_float),
        )
    else:
        skus = (
            (
                True,
                layout.node_site.astype(_INDEX),
                k.node_volume,
                k.site_storage,
                layout.lane_site.astype(_INDEX),
                k.lane_volume,
            ),
            (k.lane_site_capacity, k.truck_ordering, k.truck_transfer),
        )
    return landed_cost, zones, skus


def transition(
    net: Network, state: State, action: np.ndarray, noise: Noise
) -> tuple[State, Costs, Flows]:
    """``envs.transition.transition`` compiled: same arguments, same numbers."""
    action = check_action(net, action, np.float64)
    dtype = np.dtype(state.on_hand.dtype)
    # The step's constant arrays are built once per network and dtype, not every period.
    step = net.derived(f"compiled_step/{dtype}", lambda: CompiledStep(net, dtype))
    nxt, costs, flows, _, _, _ = step(state, action, noise)
    return nxt, costs, flows


def transition_function(backend: str):
    """The transition of a backend: ``numba`` (compiled, default) or ``numpy`` (reference)."""
    if backend == "numba":
        return transition
    if backend == "numpy":
        return numpy_transition
    raise ValueError(f"backend: must be one of {BACKENDS}, got {backend!r}")
