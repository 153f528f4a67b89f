"""The simulator step compiled with numba: one pass over envs, lanes and nodes.

``CompiledStep`` does in one compiled loop what ``Simulator.step`` does with numpy calls:
action mapping (``envs.actions``), the period of ``envs.transition`` (rationing, shipping,
pipeline, demand, costs, arrivals, disruptions), the autoreset and the observation
(``envs.observations``). Each env is a loop over its lanes and nodes on the network's CSR
lane index, so a step costs O(B * (N + E)) with no Python overhead per node or lane.
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


@numba.njit(**_JIT, inline="always")
def _sum_out(x, index_ptr, index_lanes, node, zero):
    """Sum of ``x`` over node's lanes in lane order, from zero (as ``np.add.at``)."""
    acc = zero
    for j in range(index_ptr[node], index_ptr[node + 1]):
        acc += x[index_lanes[j]]
    return acc


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
    # In-kernel noise (when ``sample``): this period's uniforms are buffer[i, cursor] (as
    # envs.noise.NoiseStream.draw reads them), turned into demand (into ``demand_in``) by
    # _draw_demand's guide-table inverse CDF (envs.sampling) and into lead times by
    # counting CDF steps.
    sample, buffer, cursor, n_demand = sampler[0], sampler[1], sampler[2], sampler[3]
    stochastic, lead_steps, lead_support, base_lead = sampler[5]
    # The outputs of one length per env, likewise: rows of one block each (CompiledStep.buffers).
    (node_out, pipeline, period, node_up, lane_up, point_out, lane_out) = out[:7]
    costs, truncated, obs, final_obs, held = out[7:]
    on_hand, backlog, overflow = node_out[0], node_out[1], node_out[2]
    last_demand, flow_demand, sales = point_out[0], point_out[1], point_out[2]
    filled, lost, flow_backlog = point_out[3], point_out[4], point_out[5]
    requested, clipped, shipped, received = lane_out[0], lane_out[1], lane_out[2], lane_out[3]

    zero, tiny, one, inv_scale = scalars[0], scalars[1], scalars[2], scalars[3]
    num_envs, num_lanes = action.shape
    num_nodes = on_hand0.shape[1]
    num_demand = demand_nodes.shape[0]
    num_zones = zone_backlog0.shape[1]
    own_points = num_demand - num_zones
    num_lane_sites = lane_site_capacity.shape[0]
    # Per-env scratch, allocated once by CompiledStep (see _scratch): the kernel runs
    # without numba's reference counting, so it allocates nothing itself.
    node_rows, lane_rows, zone_rows, site_rows, lane_site_rows = scratch[0]
    position, inbound, available, oh = node_rows[0], node_rows[1], node_rows[2], node_rows[3]
    supplier_left, shelf, taken_before = node_rows[4], node_rows[5], node_rows[6]
    debit, sent, units_out = node_rows[7], node_rows[8], node_rows[9]
    base, lane_cost, arriving, landed = lane_rows[0], lane_rows[1], lane_rows[2], lane_rows[3]
    req_row, ship, wanted_row = lane_rows[4], lane_rows[5], lane_rows[6]
    zone_old, zone_new, zone_now = zone_rows[0], zone_rows[1], zone_rows[2]
    zone_filled, zone_sales = zone_rows[3], zone_rows[4]
    site_room, site_arriving = site_rows[0], site_rows[1]
    lane_asked = lane_site_rows[0]
    quantity = scratch[1]
    lt_row = scratch[2]
    node_ok, lane_ok = scratch[3]
    # What _receive needs to share storage between a site's SKUs (unused without SKUs).
    sites = (has_skus, node_site, node_volume, site_storage, site_room, site_arriving)
    num_stochastic = stochastic.shape[0]
    n_lead = num_stochastic if sample else 0

    if sample:  # this period's demand of every env (demand_in is its output here)
        _draw_demand(buffer, cursor, period0, sampler[4], demand_in)
    for i in range(num_envs):
        # ---- noise of this period
        if sample:
            for e in range(num_lanes):
                lt_row[e] = base_lead[e]
            for j in range(num_stochastic):
                u = buffer[i, cursor, n_demand + j]
                k = 0
                for r in range(lead_steps.shape[0]):
                    if u >= lead_steps[r, j]:
                        k += 1
                lt_row[stochastic[j]] = lead_support[j, k]
        else:
            for e in range(num_lanes):
                lt_row[e] = lead_time[i, e]
        # ---- action mapping (envs.actions.ActionMap.to_quantities), in float64
        if mode == _AS_QUANTITY:
            for e in range(num_lanes):
                quantity[e] = action[i, e]
        else:
            for e in range(num_lanes):
                c = min(max(action[i, e], -1.0), 1.0)
                unit = max(c, 0.0) if transfer_lane[e] else (c + 1.0) * 0.5
                quantity[e] = np.rint(unit * scale[e])
            if mode == _ORDER_UP_TO:
                # Inventory position: on-hand - backlog + in transit to the node.
                for e in range(num_lanes):
                    in_transit = zero
                    for s in range(slots[e]):
                        in_transit += pipeline0[i, e, s]
                    arriving[e] = in_transit
                for n in range(num_nodes):
                    inbound[n] = backlog0[i, n]
                for z in range(num_zones):  # a zone's backlog is owed by its first source
                    n = demand_nodes[own_points + z]
                    inbound[n] += zone_backlog0[i, z, 0] + zone_backlog0[i, z, 1]
                for n in range(num_nodes):
                    position[n] = (on_hand0[i, n] - inbound[n]) + _sum_out(
                        arriving, in_ptr, in_lanes, n, zero
                    )
                for r in range(rank_ptr.shape[0] - 1):
                    for j in range(rank_ptr[r], rank_ptr[r + 1]):
                        e = rank_lanes[j]
                        d = lane_destination[e]
                        order = max(quantity[e] - position[d], 0.0)
                        quantity[e] = order
                        position[d] += order

        # ---- 2. decision: clip, ration at short sources, ship
        for e in range(num_lanes):
            base[e] = quantity[e]  # to the state dtype, as check_action
            wanted_row[e] = np.rint(max(base[e], zero))
            req_row[e] = min(wanted_row[e], lane_capacity[e])
        if has_skus:
            _share_lane_capacity(
                req_row, lane_site, lane_volume, lane_site_capacity, lane_asked, zero, tiny
            )
        if masks_down:
            # Up in the random process and not in a scheduled outage (envs.transition.up_now).
            for n in range(num_nodes):
                node_ok[n] = node_up0[i, n]
            for e in range(num_lanes):
                lane_ok[e] = lane_up0[i, e]
            for o in range(outage_kind.shape[0]):
                if outage_start[o] <= period0[i] < outage_end[o]:
                    if outage_kind[o] == 0:
                        node_ok[outage_index[o]] = False
                    else:
                        lane_ok[outage_index[o]] = False
        for e in range(num_lanes):
            req = req_row[e]
            clipped[i, e] = wanted_row[e] - req
            if masks_down and not lane_ok[e]:
                req = req * zero
            requested[i, e] = req
            req_row[e] = req
        for n in range(num_nodes):
            if is_supplier[n]:
                available[n] = supplier_capacity[n]
            else:
                available[n] = on_hand0[i, n]
            if masks_down and not node_ok[n]:
                available[n] = zero
        for n in range(num_nodes):
            first, last = out_ptr[n], out_ptr[n + 1]
            total = _sum_out(req_row, out_ptr, out_lanes, n, zero)
            if not total > available[n]:
                for j in range(first, last):
                    ship[out_lanes[j]] = req_row[out_lanes[j]]
            elif priority:
                before = zero
                for j in range(first, last):
                    e = out_lanes[j]
                    ship[e] = min(max(available[n] - before, zero), req_row[e])
                    before += req_row[e]
            else:
                served = min(available[n], total)
                denominator = max(total, tiny)
                for j in range(first, last):
                    e = out_lanes[j]
                    base[e] = np.floor(req_row[e] * served / denominator)
                left = available[n] - _sum_out(base, out_ptr, out_lanes, n, zero)
                before = zero
                for j in range(first, last):
                    e = out_lanes[j]
                    rest = min(req_row[e] - base[e], one)
                    ship[e] = base[e] + min(max(left - before, zero), rest)
                    before += rest

        for e in range(num_lanes):
            shipped[i, e] = ship[e]
        for n in range(num_nodes):  # units each node sends on its lanes (suppliers too)
            sent[n] = _sum_out(ship, out_ptr, out_lanes, n, zero)
            oh[n] = on_hand0[i, n] - (zero if is_supplier[n] else sent[n])
        # Lead time 0 lands at once.
        for e in range(num_lanes):
            landed[e] = ship[e] if instant[e] and lt_row[e] == 0 else zero
        for n in range(num_nodes):
            inbound[n] = _sum_out(landed, in_ptr, in_lanes, n, zero)
            overflow[i, n] = zero
        _receive(i, oh, inbound, overflow, storage_capacity, sites, zero, tiny)
        # Pipeline advanced by one period; new shipments with lead time L >= 2 in slot L-2.
        # (Slots beyond slots[e] are never written: the output pipeline starts zeroed. The
        # last used slot is cleared here, so reused output buffers need no clearing.)
        for e in range(num_lanes):
            if slots[e] > 0:
                pipeline[i, e, slots[e] - 1] = zero
            for s in range(slots[e] - 1):
                pipeline[i, e, s] = pipeline0[i, e, s + 1]
            lt = lt_row[e]
            arriving[e] = pipeline0[i, e, 0] + (ship[e] if lt == 1 else zero)
            if lt >= 2:
                pipeline[i, e, lt - 2] += ship[e]

        # ---- 3. demand: backlog first, then this period's demand
        for n in range(num_nodes):
            backlog[i, n] = zero
        for d in range(num_demand):
            flow_demand[i, d] = demand_in[i, d]  # drawn or given, in float64
            last_demand[i, d] = flow_demand[i, d]
        for d in range(own_points):
            n = demand_nodes[d]
            dem = flow_demand[i, d]
            stock = oh[n]
            old_backlog = backlog0[i, n]
            asked = dem + old_backlog
            sold = min(stock, asked)
            shortfall = asked - sold
            oh[n] = stock - sold
            kept = shortfall * is_backlog[d]
            backlog[i, n] = kept
            flow_backlog[i, d] = kept
            lost[i, d] = shortfall - kept
            sales[i, d] = sold
            filled[i, d] = min(dem, max(stock - old_backlog, zero))
        if num_zones:
            # Suppliers drop-ship what their capacity has left after this period's orders.
            for n in range(num_nodes):
                supplier_left[n] = supplier_capacity[n] - sent[n] if is_supplier[n] else zero
            for z in range(num_zones):
                zone_new[z] = zone_backlog0[i, z, 0]
                zone_old[z] = zone_backlog0[i, z, 1]
                zone_now[z] = flow_demand[i, own_points + z]
                zone_filled[z] = zero
                zone_sales[z] = zero
                for c in range(3):
                    zone_lead_time[i, z, c] = zero
            for r in range(zone_rank_ptr.shape[0] - 1):
                # The shelf as the rank finds it; lanes of the rank sharing a source are
                # served in zone order (units asked by earlier ones come first).
                for n in range(num_nodes):
                    shelf[n] = supplier_left[n] if is_supplier[n] else oh[n]
                    if masks_down and not node_ok[n]:
                        shelf[n] = zero
                    taken_before[n] = zero
                    debit[n] = zero
                for j in range(zone_rank_ptr[r], zone_rank_ptr[r + 1]):
                    f = zone_rank_lanes[j]
                    z, src = ful_zone[f], ful_source[f]
                    ask = (zone_old[z] + zone_new[z]) + zone_now[z]
                    request = min(ask, ful_capacity[f])
                    take = min(max(shelf[src] - taken_before[src], zero), request)
                    taken_before[src] += request
                    debit[src] += take
                    from_old = min(take, zone_old[z])
                    from_new = min(take - from_old, zone_new[z])
                    from_now = take - from_old - from_new
                    zone_old[z] -= from_old
                    zone_new[z] -= from_new
                    zone_now[z] -= from_now
                    fulfilled[i, f] = take
                    zone_filled[z] += from_now
                    delivery = ful_delivery[f]
                    zone_lead_time[i, z, min(delivery, 2)] += from_now
                    zone_lead_time[i, z, min(delivery + 1, 2)] += from_new
                    zone_lead_time[i, z, 2] += from_old
                for n in range(num_nodes):
                    if is_supplier[n]:
                        supplier_left[n] -= debit[n]
                    else:
                        oh[n] -= debit[n]
            for f in range(ful_zone.shape[0]):
                zone_sales[ful_zone[f]] += fulfilled[i, f]
            for z in range(num_zones):
                d = own_points + z
                arose = zone_now[z] * zone_is_backlog[z]
                older = zone_old[z] + zone_new[z]
                sales[i, d] = zone_sales[z]
                filled[i, d] = zone_filled[z]
                lost[i, d] = zone_now[z] - arose
                zone_backlog[i, z, 0] = arose
                zone_backlog[i, z, 1] = older
                flow_backlog[i, d] = arose + older

        # ---- 4. costs on the end-of-period state, summed in index order
        pipe_cost = zero
        for e in paid_lanes:
            for s in range(slots[e]):
                pipe_cost += pipeline[i, e, s] * in_transit_holding[e]
        arriving_cost = zero
        for e in paid_lanes:
            arriving_cost += arriving[e] * in_transit_holding[e]
        for e in range(num_lanes):
            lane_cost[e] = (fixed_cost[e] if ship[e] > 0 else zero) + ship[e] * unit_cost[e]
        holding = zero
        for n in holding_nodes:
            holding += oh[n] * holding_cost[n]
        if held.shape[0] > 0:  # several SKUs: the stock charged holding, per node
            for n in range(num_nodes):
                held[i, n] = oh[n]
        backlog_cost = zero
        lost_cost = zero
        for d in backlog_d:
            backlog_cost += flow_backlog[i, d] * backlog_penalty[d]
        for d in lost_d:
            lost_cost += lost[i, d] * lost_penalty[d]
        ordering = zero
        for e in repl:
            ordering += lane_cost[e] * is_replenishment[e]
        transfer = zero
        for e in trans:
            transfer += lane_cost[e] * is_transfer[e]
        handling = zero
        fulfilment = zero
        facility = zero
        if charges_nodes:
            # Units shipped out of each node: on lanes, to its own customers, to zones.
            for n in range(num_nodes):
                units_out[n] = sent[n]
            for d in range(own_points):
                units_out[demand_nodes[d]] += sales[i, d]
            for f in range(ful_zone.shape[0]):
                units_out[ful_source[f]] += fulfilled[i, f]
                fulfilment += fulfilled[i, f] * ful_unit_cost[f]
            for n in handling_nodes:
                handling += units_out[n] * handling_cost[n]
            facility = facility_cost[0]
        if has_skus:
            # One truck per physical lane: its fixed cost once per period in which it ships.
            for g in range(num_lane_sites):
                lane_asked[g] = zero
            for e in range(num_lanes):
                lane_asked[lane_site[e]] += ship[e]
            truck_o = zero
            truck_t = zero
            for g in range(num_lane_sites):
                ships = one if lane_asked[g] > 0 else zero
                truck_o += ships * truck_ordering[g]
                truck_t += ships * truck_transfer[g]
            ordering = ordering + truck_o
            transfer = transfer + truck_t

        # ---- 5. advance to t+1: arrivals land (overflow disposed of), disruptions switch
        for n in range(num_nodes):
            inbound[n] = _sum_out(arriving, in_ptr, in_lanes, n, zero)
        _receive(i, oh, inbound, overflow, storage_capacity, sites, zero, tiny)
        overflow_cost_sum = zero
        for n in overflow_nodes:
            overflow_cost_sum += overflow[i, n] * overflow_cost[n]
        for e in range(num_lanes):
            received[i, e] = landed[e] + arriving[e]
        in_transit_cost = pipe_cost + arriving_cost
        costs[0, i] = holding
        costs[1, i] = in_transit_cost
        costs[2, i] = backlog_cost
        costs[3, i] = lost_cost
        costs[4, i] = overflow_cost_sum
        costs[5, i] = ordering
        costs[6, i] = transfer
        costs[7, i] = facility
        costs[8, i] = handling
        costs[9, i] = fulfilment
        costs[10, i] = (
            (holding + in_transit_cost + backlog_cost + lost_cost + overflow_cost_sum)
            + ordering
            + transfer
            + facility
            + handling
            + fulfilment
        )
        for n in range(num_nodes):
            u_up = node_up0[i, n]
            if switches_up:
                u = buffer[i, cursor, n_demand + n_lead + n] if sample else node_u[i, n]
                u_up = u >= node_failure[n] if u_up else u < node_recovery[n]
            node_up[i, n] = u_up
        for e in range(num_lanes):
            u_up = lane_up0[i, e]
            if switches_up:
                j = n_demand + n_lead + num_nodes + e
                u = buffer[i, cursor, j] if sample else lane_u[i, e]
                u_up = u >= lane_failure[e] if u_up else u < lane_recovery[e]
            lane_up[i, e] = u_up
        period[i] = period0[i] + 1
        for n in range(num_nodes):
            on_hand[i, n] = oh[n]

        # ---- autoreset and observation
        truncated[i] = period[i] >= episode_length
        if not build_obs:
            continue
        _observe(
            i,
            final_obs,
            on_hand,
            backlog,
            pipeline,
            period,
            node_up,
            lane_up,
            last_demand,
            inv_scale,
            layout,
        )
        if truncated[i]:
            for n in range(num_nodes):
                on_hand[i, n] = initial_on_hand[n]
                backlog[i, n] = zero
                node_up[i, n] = True
            for e in range(num_lanes):
                lane_up[i, e] = True
                for s in range(slots[e]):
                    pipeline[i, e, s] = zero
            for d in range(num_demand):
                last_demand[i, d] = zero
            for z in range(num_zones):
                zone_backlog[i, z, 0] = zero
                zone_backlog[i, z, 1] = zero
            period[i] = 0
            _observe(
                i,
                obs,
                on_hand,
                backlog,
                pipeline,
                period,
                node_up,
                lane_up,
                last_demand,
                inv_scale,
                layout,
            )
        else:
            for f in range(obs.shape[1]):
                obs[i, f] = final_obs[i, f]


@numba.njit(**_JIT)
def _draw_demand(buffer, cursor, period0, tables, out):
    """Demand of every env in this period from its uniforms ``buffer[i, cursor, :D]`` (as
    ``envs.sampling.StackedInverseCDF.sample``): the guide-table inverse CDF, finished by
    bisection in the few wide cells. Its own function (not inlined into the kernel), so
    the loop keeps its tables in registers instead of reloading them from the stack."""
    cdf, offsets, lengths, guide, wide, first_row, node_period = tables
    for i in range(out.shape[0]):
        for d in range(out.shape[1]):
            u = buffer[i, cursor, d]
            row = first_row[d]
            if node_period[d] > 1:  # (an integer division costs ~40 cycles: seasons only)
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
            out[i, d] = value


@numba.njit(**_JIT, inline="always")
def _receive(i, oh, inbound, overflow, storage_capacity, sites, zero, tiny):
    """Land ``inbound`` per node on ``oh``; what does not fit is added to ``overflow[i]``
    (envs.transition._receive: per node, or per physical site in volume units with SKUs;
    ``sites`` is (has_skus, node_site, node_volume, site_storage) and two scratch rows)."""
    has_skus, node_site, node_volume, site_storage, site_room, site_arriving = sites
    num_nodes = oh.shape[0]
    if not has_skus:
        for n in range(num_nodes):
            oh[n] += inbound[n]
            spill = max(oh[n] - storage_capacity[n], zero)
            oh[n] -= spill
            overflow[i, n] += spill
        return
    for h in range(site_room.shape[0]):
        site_room[h] = zero
        site_arriving[h] = zero
    for n in range(num_nodes):  # node order, as np.add.at
        site_room[node_site[n]] += oh[n] * node_volume[n]
        site_arriving[node_site[n]] += inbound[n] * node_volume[n]
    for h in range(site_room.shape[0]):
        site_room[h] = max(site_storage[h] - site_room[h], zero)
    for n in range(num_nodes):
        h = node_site[n]
        kept = inbound[n]
        if site_arriving[h] > site_room[h]:
            room = site_room[h] if np.isfinite(site_room[h]) else zero
            kept = np.floor(inbound[n] * room / max(site_arriving[h], tiny))
        oh[n] += kept
        overflow[i, n] += inbound[n] - kept


@numba.njit(**_JIT, inline="always")
def _share_lane_capacity(req_row, lane_site, lane_volume, lane_site_capacity, asked, zero, tiny):
    """The SKUs' copies of a lane share its capacity in volume units
    (envs.transition.share_lane_capacity), in place on ``req_row``."""
    for g in range(asked.shape[0]):
        asked[g] = zero
    for e in range(req_row.shape[0]):
        asked[lane_site[e]] += req_row[e] * lane_volume[e]
    for e in range(req_row.shape[0]):
        g = lane_site[e]
        if asked[g] > lane_site_capacity[g]:
            finite = lane_site_capacity[g] if np.isfinite(lane_site_capacity[g]) else zero
            req_row[e] = np.floor(req_row[e] * finite / max(asked[g], tiny))


@numba.njit(**_JIT, inline="always")
def _observe(
    i, obs, on_hand, backlog, pipeline, period, node_up, lane_up, last_demand, inv_scale, layout
):
    """Row i of the observation (envs.observations.ObservationLayout.build)."""
    obs_stock, obs_backlog, pipe_lane, pipe_slot, season, season_table, flags = layout
    flag_nodes, flag_lanes = flags
    f = 0
    for n in obs_stock:
        obs[i, f] = on_hand[i, n] * inv_scale
        f += 1
    for n in obs_backlog:
        obs[i, f] = backlog[i, n] * inv_scale
        f += 1
    for j in range(pipe_lane.shape[0]):
        obs[i, f] = pipeline[i, pipe_lane[j], pipe_slot[j]] * inv_scale
        f += 1
    for d in range(last_demand.shape[1]):
        obs[i, f] = last_demand[i, d] * inv_scale
        f += 1
    if season > 1:
        phase = period[i] % season
        obs[i, f] = season_table[phase, 0]
        obs[i, f + 1] = season_table[phase, 1]
        f += 2
    for n in flag_nodes:
        obs[i, f] = 1.0 if node_up[i, n] else 0.0
        f += 1
    for e in flag_lanes:
        obs[i, f] = 1.0 if lane_up[i, e] else 0.0
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
    flows, the costs, the truncation flags and the final observations, and the same arrays
    as the kernel takes them (``out`` before and after the fresh ``obs``, and the zone
    arrays). Arrays of one shape are the rows of one block there (per node: on-hand,
    backlog, overflow; per demand point: last demand, demand, sales, filled, lost, backlog;
    per lane: requested, clipped, shipped, received; the cost components and total)."""

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
        self._scratch = _scratch(net, self.dtype)
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
            np.zeros((0, 0, 0)),
            0,
            0,
            (f0, i0, i0, i0, np.zeros(1, dtype=bool), i0, i0),
            (i0[:0], np.zeros((0, 0)), np.zeros((0, 1), dtype=np.int64), i0),
        )

    def _demand_rows(self, num_envs: int) -> np.ndarray:
        """The [B, D] float64 rows the kernel draws a period's demand into (kept per B:
        the kernel reads them in the same call, so one array serves every step)."""
        rows = self._demand_by_size.get(num_envs)
        if rows is None:
            rows = self._demand_by_size[num_envs] = np.empty((num_envs, self.net.num_demand_nodes))
        return rows

    def buffers(self, num_envs: int) -> StepBuffers:
        """Fresh arrays for one step's outputs (state, flows, costs) of ``num_envs`` envs."""
        b, n, e = num_envs, self.net.num_nodes, self.net.num_lanes
        d, z = self.net.num_demand_nodes, self.net.num_zones
        dt = self.dtype
        # Arrays of one shape are the rows of one block, which the kernel takes as one
        # argument (each array argument costs numba ~90 ns to unbox, every call).
        node_out = np.empty((3, b, n), dt)  # on-hand, backlog, overflow
        point_out = np.empty((6, b, d), dt)  # last demand, demand, sales, filled, lost, backlog
        lane_out = np.empty((4, b, e), dt)  # requested, clipped, shipped, received
        state = State(
            on_hand=node_out[0],
            backlog=node_out[1],
            pipeline=np.zeros((b, e, self.net.pipeline_length), dt),
            period=np.empty(b, np.int64),
            node_up=np.empty((b, n), bool),
            lane_up=np.empty((b, e), bool),
            last_demand=point_out[0],
            zone_backlog=np.empty((b, z, 2), dt) if z else None,
        )
        flows = Flows(
            requested=lane_out[0],
            clipped=lane_out[1],
            shipped=lane_out[2],
            received=lane_out[3],
            overflow=node_out[2],
            demand=point_out[1],
            sales=point_out[2],
            filled=point_out[3],
            lost=point_out[4],
            backlog=point_out[5],
            fulfilled=np.empty((b, len(self.net.fulfilment_zone)), dt) if z else None,
            zone_lead_time=np.empty((b, z, 3), dt) if z else None,
            held=np.empty((b, n), dt) if self.net.skus is not None else None,
        )
        rows = np.empty((11, b), dt)
        costs = Costs(*rows[:10])
        costs.total = rows[10]  # the kernel's sum, in the order of Costs.total
        truncated = np.empty(b, bool)
        final_obs = np.empty((b, self.num_features), np.float32)
        held = flows.held if flows.held is not None else np.empty((0, n), dt)
        rest = (state.pipeline, state.period, state.node_up, state.lane_up)  # state, unblocked
        return StepBuffers(
            state,
            flows,
            costs,
            truncated,
            final_obs,
            ((node_out, *rest, point_out, lane_out, rows, truncated), (final_obs, held)),
            (state.zone_backlog, flows.fulfilled, flows.zone_lead_time),
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
                buffer, cursor = noise.next_uniforms()
                n_demand = noise.num_demand_uniforms
                sampler = (True, buffer, cursor, n_demand, demand_tables, lead_tables)
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
                np.ascontiguousarray(noise.demand, dtype=np.float64),
                np.ascontiguousarray(noise.lead_time, dtype=np.int64),
                np.ascontiguousarray(node_u, dtype=np.float64),
                np.ascontiguousarray(lane_u, dtype=np.float64),
            )
        # The state as the kernel reads it (a step's own arrays are C-contiguous already;
        # another layout would only make numba compile a second specialisation).
        state0 = (
            state.on_hand,
            state.backlog,
            state.pipeline,
            state.period,
            state.node_up,
            state.lane_up,
        )
        zones = self._zones
        if self.net.num_zones:
            zones = (zones[0], zones[1], (state.zone_backlog, *out.zone_out))
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
            self._scratch,
        )
        if not self._flags[2]:
            return nxt, out.costs, flows, truncated, None, None
        if not np.count_nonzero(truncated):  # (ndarray.any is a Python-level wrapper)
            return nxt, out.costs, flows, truncated, obs, None
        final_obs = out.final_obs.copy() if reused else out.final_obs  # reused: overwritten
        return nxt, out.costs, flows, truncated, obs, final_obs


def _scratch(net: Network, dtype: np.dtype) -> tuple:
    """The kernel's per-env working rows (``scratch``), overwritten env by env: 10 per node,
    7 per lane, 5 per zone, 2 per SKU site and 1 per physical lane in the state dtype;
    the lanes' quantities in float64; lead times; up flags."""
    n, e = net.num_nodes, net.num_lanes
    k = net.typed(dtype)
    sites, lane_sites = len(k.site_storage), len(k.lane_site_capacity)
    rows = [(10, n), (7, e), (5, net.num_zones), (2, sites), (1, lane_sites)]
    return (
        tuple(np.empty(shape, dtype=dtype) for shape in rows),  # one matrix per length
        np.empty(e),
        np.empty(e, dtype=np.int64),
        (np.empty(n, dtype=bool), np.empty(e, dtype=bool)),
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
    # Any state a caller built: C-contiguous, as the kernel's one specialisation reads it.
    state = State(
        **{k: None if v is None else np.ascontiguousarray(v) for k, v in vars(state).items()}
    )
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
