"""The generated hub-and-spoke preset: its shape at any size, its knobs and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from envs.actions import max_target
from envs.hub_and_spoke import hub_and_spoke_config
from envs.network import build_network, downstream_mean_demand
from envs.presets import PRESETS, load_env_config, make_network
from envs.simulator import Simulator


def _net(regions: int, stores: int):
    overrides = [f"env.regions={regions}", f"env.stores_per_region={stores}"]
    return make_network(load_env_config("hub_and_spoke", overrides))


@pytest.mark.parametrize("regions, stores", [(3, 2), (1, 1), (4, 5), (10, 99)])
def test_shape_grows_linearly(regions, stores):
    net = _net(regions, stores)
    assert net.num_nodes == 1 + regions * (1 + stores)
    transfers = regions * (0 if stores == 1 else 2 if stores == 2 else 2 * stores)
    assert net.num_lanes == regions * (1 + stores) + transfers
    assert int(net.is_transfer.sum()) == transfers
    assert net.num_demand_nodes == regions * stores
    # Every store is fed by its own region's DC, and transfers stay within a region.
    names = net.node_names
    for e in range(net.num_lanes):
        src, dst = names[net.lane_source[e]], names[net.lane_destination[e]]
        if net.is_transfer[e]:
            assert src.split("_")[1] == dst.split("_")[1]
        elif dst.startswith("store_"):
            assert src == f"dc_{dst.split('_')[1]}"


def test_ten_node_preset_steps_and_knobs_reach_the_network():
    assert PRESETS["HubAndSpoke"] == "hub_and_spoke"
    cfg = load_env_config("hub_and_spoke", ["env.penalty=19", "env.demand_mean=3"])
    net = make_network(cfg)
    assert net.num_nodes == 10
    assert_array_equal(net.penalty, 19.0)
    assert_array_equal(net.demand.mean_demand, 3.0)
    sim = Simulator(net, 4, episode_length=5, seed=0)
    sim.reset()
    for _ in range(6):
        result = sim.step(np.zeros((4, net.num_lanes)))
        assert np.isfinite(result.reward).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["env.regions=0"], "env.regions: must be a whole number >= 1, got 0"),
        (["env.stores_per_region=-2"], "env.stores_per_region: must be a whole number"),
        (["env.generator=star"], "env.generator: unknown 'star'"),
    ],
)
def test_bad_sizes_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_network(load_env_config("hub_and_spoke", overrides))


def _relaxed_mean_demand(source, destination, is_transfer, own):
    """The definition by repeated relaxation (N sweeps), O(N * E)."""
    n = len(own)
    through = own.astype(float).copy()
    for _ in range(n):
        updated = own.astype(float).copy()
        for s, d, t in zip(source, destination, is_transfer):
            if not t:
                n_src = np.sum((destination == d) & ~is_transfer)
                updated[s] += through[d] / max(n_src, 1)
        through = updated
    return through


def _relaxed_longest(net, horizon):
    downstream = np.zeros(net.num_nodes)
    for _ in range(net.num_nodes):
        for j in range(net.num_lanes):
            if not net.is_transfer[j]:
                s, d = net.lane_source[j], net.lane_destination[j]
                downstream[s] = max(downstream[s], downstream[d] + horizon[j])
    return downstream


@pytest.mark.parametrize("preset", ["network", "owmr_transship", "serial", "hub_and_spoke"])
def test_one_topological_pass_equals_the_relaxation(preset):
    # The O(N + E) passes give the very numbers of the O(N * E) relaxation they replace
    # (action ranges and order-up-to ranges must not move).
    net = make_network(load_env_config(preset))
    own = np.zeros(net.num_nodes)
    own[net.demand_nodes] = net.demand.mean_demand
    args = (net.lane_source, net.lane_destination, net.is_transfer)
    assert_array_equal(downstream_mean_demand(*args, own), _relaxed_mean_demand(*args, own))
    horizon = np.array([lt.max + 1 for lt in net.lead_times], dtype=float)
    down = _relaxed_longest(net, horizon)
    own_through = _relaxed_mean_demand(*args, own)
    cover = horizon + down[net.lane_destination]
    mu = own_through[net.lane_destination] * cover
    assert_array_equal(max_target(net), np.maximum(np.ceil(mu + 6 * np.sqrt(mu) + 1), 1.0))


@pytest.mark.slow
def test_ten_thousand_nodes_build_and_step():
    net = build_network(hub_and_spoke_config(100, 99))
    assert net.num_nodes == 10_001
    assert net.source_incidence.nnz == net.num_lanes  # sparse, not N x E
    sim = Simulator(net, 2, seed=0)
    sim.reset()
    result = sim.step(np.zeros((2, net.num_lanes)))
    assert np.isfinite(result.reward).all()
