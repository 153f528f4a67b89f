"""Network building and validation: bad input is rejected early, naming the field.

Also the action checks of ``transition`` (NaN/inf raise; negative quantities are clipped to
0; quantities above a lane's capacity are clipped and counted).
"""

from __future__ import annotations

import copy

import gymnasium
import numpy as np
import pytest
from conftest import lane, noise, q, single_node_config, store, supplier
from numpy.testing import assert_array_equal

import envs  # noqa: F401  (registers the invnet/ ids)
from envs.network import NetworkConfig, build_network
from envs.presets import load_env_config, make_network, read_edge_list
from envs.simulator import Simulator
from envs.transition import initial_state, transition


def serial_config() -> dict:
    return {
        "nodes": [supplier(), store("a", demand=None), store("b")],
        "lanes": [lane("supplier", "a", lead_time=1), lane("a", "b", lead_time=2)],
    }


def test_build_network_arrays():
    net = build_network(serial_config())
    assert net.node_names == ("supplier", "a", "b")
    assert net.lane_names == ("supplier->a", "a->b")
    assert_array_equal(net.is_supplier, [True, False, False])
    assert_array_equal(net.lane_source, [0, 1])
    assert_array_equal(net.lane_destination, [1, 2])
    assert_array_equal(net.demand_nodes, [2])
    assert_array_equal(net.source_incidence.toarray(), [[1, 0, 0], [0, 1, 0]])
    assert_array_equal(net.destination_incidence.toarray(), [[0, 1, 0], [0, 0, 1]])
    assert net.max_lead_time == 2
    assert net.lead_times[1].support == (2,) and net.lead_times[1].mean == 2
    assert_array_equal(net.demand.mean_demand, [5])


def test_config_forms_agree():
    # A dict, a validated NetworkConfig (the schema model) and an OmegaConf node build the
    # same network.
    from omegaconf import OmegaConf

    cfg = serial_config()
    model_cfg = NetworkConfig.model_validate(cfg)
    for other in (model_cfg, OmegaConf.create(cfg)):
        net = build_network(other)
        ref = build_network(cfg)
        assert net.lane_names == ref.lane_names
        assert_array_equal(net.max_order, ref.max_order)
        assert_array_equal(net.penalty, ref.penalty)


def test_random_lead_time_support_is_sorted_and_normalised():
    cfg = single_node_config(lead_time={"support": [3, 0, 1], "probs": [0.5, 0.2, 0.3]})
    lt = build_network(cfg).lead_times[0]
    assert lt.support == (0, 1, 3)
    assert lt.probs == pytest.approx((0.2, 0.3, 0.5))
    assert lt.mean == pytest.approx(0.3 + 1.5)
    assert build_network(single_node_config(lead_time={"support": [1, 2]})).lead_times[0].probs == (
        0.5,
        0.5,
    )


def _with(cfg: dict, path: tuple, value) -> dict:
    cfg = copy.deepcopy(cfg)
    target = cfg
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return cfg


BAD_CONFIGS = [
    # (description, config mutation, field expected in the message)
    ("cycle", lambda c: {**c, "lanes": c["lanes"] + [lane("b", "a")]}, "lanes"),
    (
        "unknown destination",
        lambda c: _with(c, ("lanes", 1, "destination"), "nowhere"),
        r"lanes\[1\]\.destination",
    ),
    ("unknown source", lambda c: _with(c, ("lanes", 0, "source"), "ghost"), r"lanes\[0\]\.source"),
    (
        "negative holding",
        lambda c: _with(c, ("nodes", 1, "holding_cost"), -1),
        r"nodes\[1\]\.holding_cost",
    ),
    (
        "negative unit cost",
        lambda c: _with(c, ("lanes", 0, "unit_cost"), -0.5),
        r"lanes\[0\]\.unit_cost",
    ),
    (
        "negative fixed cost",
        lambda c: _with(c, ("lanes", 1, "fixed_cost"), -3),
        r"lanes\[1\]\.fixed_cost",
    ),
    ("negative penalty", lambda c: _with(c, ("nodes", 2, "penalty"), -9), r"nodes\[2\]\.penalty"),
    (
        "negative lane capacity",
        lambda c: _with(c, ("lanes", 0, "capacity"), -1),
        r"lanes\[0\]\.capacity",
    ),
    (
        "negative supplier capacity",
        lambda c: _with(c, ("nodes", 0, "capacity"), -5),
        r"nodes\[0\]\.capacity",
    ),
    (
        "negative storage",
        lambda c: _with(c, ("nodes", 1, "storage_capacity"), -5),
        r"nodes\[1\]\.storage_capacity",
    ),
    (
        "NaN cost",
        lambda c: _with(c, ("nodes", 2, "holding_cost"), float("nan")),
        r"nodes\[2\]\.holding_cost",
    ),
    (
        "empty support",
        lambda c: _with(c, ("lanes", 0, "lead_time"), {"support": []}),
        r"lanes\[0\]\.lead_time",
    ),
    (
        "negative lead time",
        lambda c: _with(c, ("lanes", 1, "lead_time"), -1),
        r"lanes\[1\]\.lead_time",
    ),
    (
        "negative support point",
        lambda c: _with(c, ("lanes", 0, "lead_time"), {"support": [-1, 2], "probs": [0.5, 0.5]}),
        r"lanes\[0\]\.lead_time",
    ),
    (
        "probs not summing to 1",
        lambda c: _with(c, ("lanes", 0, "lead_time"), {"support": [1, 2], "probs": [0.5, 0.6]}),
        r"lanes\[0\]\.lead_time\.probs",
    ),
    (
        "probs of the wrong length",
        lambda c: _with(c, ("lanes", 0, "lead_time"), {"support": [1, 2], "probs": [1.0]}),
        r"lanes\[0\]\.lead_time\.probs",
    ),
    (
        "fractional lead time",
        lambda c: _with(c, ("lanes", 0, "lead_time"), 1.5),
        r"lanes\[0\]\.lead_time",
    ),
    (
        "lost without penalty",
        lambda c: _with(c, ("nodes", 2, "penalty"), None),
        r"nodes\[2\]\.penalty",
    ),
    ("unknown unmet", lambda c: _with(c, ("nodes", 2, "unmet"), "vanish"), r"nodes\[2\]\.unmet"),
    ("unknown kind", lambda c: _with(c, ("nodes", 1, "kind"), "factory"), r"nodes\[1\]\.kind"),
    ("duplicate name", lambda c: _with(c, ("nodes", 2, "name"), "a"), r"nodes\[2\]\.name"),
    (
        "lane into a supplier",
        lambda c: {**c, "lanes": c["lanes"] + [lane("a", "supplier")]},
        "destination",
    ),
    ("self loop", lambda c: {**c, "lanes": c["lanes"] + [lane("a", "a")]}, r"lanes\[3\]"),
    (
        "no demand",
        lambda c: _with(_with(c, ("nodes", 2, "demand"), None), ("nodes", 3, "demand"), None),
        "nodes",
    ),
    ("no lanes", lambda c: {**c, "lanes": []}, "lanes"),
    ("unknown rationing", lambda c: {**c, "rationing": "lottery"}, "rationing"),
    (
        "unknown demand dist",
        lambda c: _with(c, ("nodes", 2, "demand"), {"dist": "zipf", "mean": 2}),
        r"nodes\[2\]\.demand\.dist",
    ),
    (
        "negative mean",
        lambda c: _with(c, ("nodes", 2, "demand"), {"dist": "poisson", "mean": -2}),
        r"nodes\[2\]\.demand\.mean",
    ),
    (
        "nbinom variance <= mean",
        lambda c: _with(
            c, ("nodes", 2, "demand"), {"dist": "negative_binomial", "mean": 5, "std": 2}
        ),
        r"nodes\[2\]\.demand\.std",
    ),
    (
        "normal without std",
        lambda c: _with(c, ("nodes", 2, "demand"), {"dist": "normal", "mean": 5}),
        r"nodes\[2\]\.demand\.std",
    ),
    (
        "probability > 1",
        lambda c: _with(c, ("nodes", 1, "disruption"), {"failure_prob": 1.5}),
        r"nodes\[1\]\.disruption\.failure_prob",
    ),
    (
        "initial above storage",
        lambda c: _with(
            _with(c, ("nodes", 1, "storage_capacity"), 3), ("nodes", 1, "initial_on_hand"), 5
        ),
        r"nodes\[1\]\.initial_on_hand",
    ),
    (
        "bad correlation",
        lambda c: {**c, "demand_correlation": [[1, 2], [2, 1]]},
        "demand_correlation",
    ),
]


@pytest.mark.parametrize(
    ("bad", "field"), [(b[1], b[2]) for b in BAD_CONFIGS], ids=[b[0] for b in BAD_CONFIGS]
)
def test_bad_config_raises_naming_the_field(bad, field):
    cfg = serial_config()
    cfg["nodes"].append(store("c"))  # two demand nodes, for the correlation case
    cfg["lanes"].append(lane("a", "c"))
    with pytest.raises(ValueError, match=field):
        build_network(bad(cfg))


def test_transfer_lane_from_supplier_rejected():
    cfg = serial_config()
    cfg["transfer_lanes"] = [lane("supplier", "b")]
    with pytest.raises(ValueError, match=r"transfer_lanes\[0\]\.source"):
        build_network(cfg)


def test_transfer_lanes_may_form_cycles():
    # Lateral transfers go both ways; only replenishment lanes must be acyclic.
    cfg = serial_config()
    cfg["nodes"].append(store("c"))
    cfg["lanes"].append(lane("a", "c"))
    cfg["transfer_lanes"] = [lane("b", "c"), lane("c", "b")]
    net = build_network(cfg)
    assert_array_equal(net.is_transfer, [False, False, False, True, True])


def _trace_config(path) -> dict:
    cfg = serial_config()
    cfg["nodes"].append(store("c"))
    cfg["lanes"].append(lane("a", "c"))
    cfg["demand_trace"] = str(path)
    return cfg


@pytest.mark.parametrize(
    "csv",
    [
        "b,x\n1,2\n",  # unknown column x, missing c
        "b\n1\n",  # missing c
        "b,c,d\n1,2,3\n",  # extra column
        "b,c\n1,-2\n",  # negative demand
        "b,c\n1,\n",  # empty cell (NaN)
        "b,c\n",  # no rows
    ],
)
def test_bad_demand_trace_raises(tmp_path, csv):
    path = tmp_path / "trace.csv"
    path.write_text(csv)
    with pytest.raises(ValueError, match="demand_trace"):
        build_network(_trace_config(path))


def test_missing_demand_trace_file_raises(tmp_path):
    with pytest.raises(ValueError, match="demand_trace"):
        build_network(_trace_config(tmp_path / "absent.csv"))


@pytest.mark.parametrize(
    "text",
    [
        "nodes: [a, b]\nedges: []\n",  # nodes must be a mapping
        "nodes: {a: {kind: supplier}}\n",  # no edges
        "nodes: {a: {kind: supplier}, b: {}}\nedges:\n  - [a]\n",  # one-ended edge
        "nodes: {a: {kind: supplier}, b: {}}\nedges:\n  - a->b\n",  # not a list
    ],
)
def test_malformed_edge_list_raises(tmp_path, text):
    path = tmp_path / "edges.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="edge_list"):
        read_edge_list(str(path))


def test_edge_list_builds_the_same_network_as_the_dict(tmp_path):
    path = tmp_path / "edges.yaml"
    path.write_text(
        "nodes:\n"
        "  supplier: {kind: supplier}\n"
        "  a: {}\n"
        "  b: {demand: {dist: poisson, mean: 5}, unmet: lost, penalty: 9}\n"
        "edges:\n"
        "  - [supplier, a, {lead_time: 1}]\n"
        "  - [a, b, {lead_time: 2}]\n"
        "rationing: priority\n"
    )
    net = build_network(read_edge_list(str(path)))
    ref = build_network({**serial_config(), "rationing": "priority"})
    assert net.lane_names == ref.lane_names
    assert net.rationing == "priority"
    assert [lt.support for lt in net.lead_times] == [(1,), (2,)]
    # An edge list with an unknown node is caught by the schema, naming the edge.
    path.write_text("nodes: {s: {kind: supplier}}\nedges:\n  - [s, ghost]\n")
    with pytest.raises(ValueError, match=r"edges\[0\]\.destination"):
        build_network(read_edge_list(str(path)))
    with pytest.raises(ValueError, match="edge_list"):
        read_edge_list(str(tmp_path / "absent.yaml"))


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="unknown preset"):
        load_env_config("no_such_preset")
    with pytest.raises(gymnasium.error.Error):
        gymnasium.make("invnet/NoSuchPreset-v0")


def test_bad_simulator_settings_raise():
    net = build_network(serial_config())
    with pytest.raises(ValueError, match="action_mode"):
        Simulator(net, action_mode="telepathy")
    with pytest.raises(ValueError, match="num_envs"):
        Simulator(net, num_envs=0)
    with pytest.raises(ValueError, match="episode_length"):
        Simulator(net, episode_length=0)


# ------------------------------------------------------------------------ actions


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises(bad):
    net = build_network(serial_config())
    with pytest.raises(ValueError, match="action"):
        transition(net, initial_state(net, 1), q(1, bad), noise([0], [1, 2]))
    # Through every action mode of the simulator too (raw, quantity, order_up_to, discrete).
    for mode in ("raw", "quantity", "order_up_to", "discrete"):
        sim = Simulator(net, num_envs=1, action_mode=mode, seed=0)
        with pytest.raises(ValueError, match="action"):
            sim.step(np.array([[bad, 0.0]]))


def test_action_of_wrong_shape_raises():
    net = build_network(serial_config())
    with pytest.raises(ValueError, match="action"):
        transition(net, initial_state(net, 1), q(1, 2, 3), noise([0], [1, 2]))


def test_negative_action_is_clipped_to_zero():
    net = build_network(single_node_config(lead_time=1, initial_on_hand=3))
    s1, c, f = transition(net, initial_state(net, 1), q(-4), noise([1], [1]))
    assert_array_equal(f.requested, [[0, 0][:1]])
    assert_array_equal(f.shipped, [[0]])
    assert_array_equal(f.clipped, [[0]])  # clipping at 0 is not a capacity clip
    assert_array_equal(s1.on_hand, [[0, 2]])


def test_action_above_capacity_is_clipped_and_counted():
    net = build_network(
        single_node_config(lead_time=1, lane={"capacity": 5, "unit_cost": 1}, initial_on_hand=0)
    )
    s1, c, f = transition(net, initial_state(net, 1), q(8.4), noise([0], [1]))
    assert_array_equal(f.requested, [[5]])
    assert_array_equal(f.shipped, [[5]])
    assert_array_equal(f.clipped, [[3]])  # 8.4 rounds to 8, 3 above capacity
    assert c.ordering[0] == 5
    assert_array_equal(s1.on_hand, [[0, 5]])
    # The clip is reported in the front ends' info too.
    sim = Simulator(net, num_envs=2, action_mode="raw", seed=0)
    from envs.simulator import step_info

    info = step_info(sim.step(np.array([[9.0], [2.0]])))
    assert_array_equal(info["clipped"], [[4], [0]])
    assert_array_equal(info["shipped"], [[5], [2]])


def test_default_action_range_follows_capacity_and_demand():
    net = build_network(single_node_config(lane={"capacity": 7}))
    assert_array_equal(net.max_order, [7])
    # Uncapacitated: 4 mean + 4 std of the demand through the destination (mean 5).
    net = build_network(single_node_config())
    assert net.max_order[0] == np.ceil(4 * 5 + 4 * np.sqrt(5))
    net = build_network(single_node_config(lane={"max_order": 12}))
    assert_array_equal(net.max_order, [12])


def test_network_preset_builds_with_expected_shape():
    net = make_network(load_env_config("network"))
    assert net.num_nodes == 9 and net.num_lanes == 14 and net.num_demand_nodes == 4
    assert int(net.is_transfer.sum()) == 4
    assert net.max_lead_time == 10
