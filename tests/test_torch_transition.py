"""The torch transition equals the numpy one, step by step, on the same noise.

Both twins run in float64 on every preset (plus a network with disruptions, priority
rationing, storage overflow, capacities and in-transit holding) from the same state, with
the same actions (random, non-integer, often above capacity and above the stock a source
holds, so rationing binds) and the same ``NoiseStream`` noise. Quantities (stock, backlog,
pipeline, flows) must be *exactly* equal: they are whole units, exact in float64. Costs
must agree to 1e-9 relative: they are the same products, but summed by numpy's and torch's
matrix products, which may add in different orders (not bitwise the same).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import lane, store, supplier
from numpy.testing import assert_allclose, assert_array_equal

from envs.network import build_network
from envs.noise import NoiseStream
from envs.presets import PRESETS, load_env_config, make_network
from envs.torch_transition import (
    noise_to_torch,
    state_to_torch,
    torch_initial_state,
    torch_transition,
    torch_unmodelled,
)
from envs.transition import initial_state, transition

QUANTITY_FIELDS = ("requested", "clipped", "shipped", "demand", "sales", "filled", "lost")

STRESS = {
    "rationing": "priority",
    "nodes": [
        supplier(capacity=12, disruption={"failure_prob": 0.2, "recovery_prob": 0.5}),
        store(
            "dc",
            demand=None,
            storage_capacity=30,
            overflow_cost=2,
            holding_cost=0.2,
            initial_on_hand=10,
        ),
        store("a", storage_capacity=15, overflow_cost=1, initial_on_hand=5),
        store(
            "b",
            unmet="backlog",
            penalty=4,
            initial_on_hand=5,
            disruption={"failure_prob": 0.1, "recovery_prob": 0.6},
        ),
    ],
    "lanes": [
        lane(
            "supplier",
            "dc",
            lead_time={"support": [1, 2, 3]},
            in_transit_holding=0.1,
            fixed_cost=3,
            unit_cost=0.5,
        ),
        lane("dc", "a", lead_time={"support": [0, 1]}, capacity=8),
        lane("dc", "b", lead_time=2, disruption={"failure_prob": 0.1, "recovery_prob": 0.5}),
    ],
    "transfer_lanes": [lane("a", "b", lead_time=0, unit_cost=0.3), lane("b", "a", lead_time=1)],
}


# A promotion calendar (explicit multipliers, 6-period cycle) beside a sine season with a
# promotion: the same per-phase demand tables, so the same transition.
CALENDAR = {
    "nodes": [
        supplier(),
        store("dc", demand=None, holding_cost=0.2, initial_on_hand=10),
        store("a", demand={"mean": 4, "seasonality": {"calendar": [1, 1, 3, 3, 0.5, 1]}}),
        store(
            "b",
            unmet="backlog",
            penalty=4,
            demand={
                "dist": "negative_binomial",
                "mean": 5,
                "std": 4,
                "seasonality": {
                    "period": 4,
                    "amplitude": 0.3,
                    "promotions": [{"start": 1, "end": 2, "lift": 2.5}],
                },
            },
        ),
    ],
    "lanes": [
        lane("supplier", "dc", lead_time=3),
        lane("dc", "a", lead_time={"support": [0, 1]}),
        lane("dc", "b", lead_time=2),
    ],
}


def _networks():
    nets = [(name, make_network(load_env_config(name))) for name in sorted(set(PRESETS.values()))]
    # The torch twin refuses what it does not model (tests/test_zones.py checks it does).
    nets = [(name, net) for name, net in nets if not torch_unmodelled(net)]
    nets.append(("stress", build_network(STRESS)))
    proportional = dict(STRESS, rationing="proportional")
    nets.append(("stress_proportional", build_network(proportional)))
    nets.append(("calendar", build_network(CALENDAR)))
    return nets


@pytest.mark.parametrize("name,net", _networks(), ids=lambda x: x if isinstance(x, str) else "")
def test_torch_transition_equals_numpy(name, net):
    b, periods = 24, 60
    rng = np.random.default_rng(7)
    stream = NoiseStream(net, b, seed=3)
    state = initial_state(net, b)
    tstate = torch_initial_state(net, b, torch.float64)
    for _ in range(periods):
        # Up to 1.5x the action range: capacities clip, sources run short, rationing binds.
        action = rng.uniform(-1.0, 1.5, (b, net.num_lanes)) * net.max_order
        noise = stream.draw(state.period)
        state, costs, flows = transition(net, state, action, noise)
        tstate, tcosts, tflows = torch_transition(
            net, tstate, torch.as_tensor(action), noise_to_torch(noise, torch.float64, "cpu")
        )
        got = tstate.to_numpy()
        for field in ("on_hand", "backlog", "pipeline", "period", "node_up", "lane_up"):
            assert_array_equal(getattr(got, field), getattr(state, field), err_msg=field)
        for field in QUANTITY_FIELDS:
            assert_array_equal(getattr(tflows, field).numpy(), getattr(flows, field), err_msg=field)
        assert_array_equal(tflows.overflow.numpy(), flows.overflow)
        for comp, value in costs.as_dict().items():
            if comp in ("facility", "handling", "fulfilment"):  # networks torch refuses
                assert not value.any(), comp
                continue
            assert_allclose(
                getattr(tcosts, comp).numpy(), value, rtol=1e-9, atol=1e-9, err_msg=comp
            )


def test_state_round_trip():
    net = make_network(load_env_config("owmr_transship"))
    state = initial_state(net, 3)
    back = state_to_torch(state, torch.float64, "cpu").to_numpy()
    for field in ("on_hand", "backlog", "pipeline", "period", "node_up", "lane_up"):
        assert_array_equal(getattr(back, field), getattr(state, field))


def test_gradients_are_the_subgradients_of_the_costs():
    # supplier -> store, lead time 0, h = 1, p = 9 lost, demand 5, nothing on hand.
    net = build_network(
        {
            "nodes": [supplier(), store("store", holding_cost=1, penalty=9)],
            "lanes": [lane("supplier", "store", lead_time=0, unit_cost=0.5)],
        }
    )
    state = torch_initial_state(net, 2, torch.float64)
    noise = noise_to_torch(
        type(
            "N",
            (),
            {
                "demand": [[5.0], [5.0]],
                "lead_time": [[0], [0]],
                "node_disruption": None,
                "lane_disruption": None,
            },
        )(),
        torch.float64,
        "cpu",
    )
    # 8.3 rounds to 8 (3 left over: holding slope 1); 2.6 rounds to 3 (2 lost: slope -9).
    # Straight-through rounding passes both slopes (+ the unit cost 0.5) to the raw action.
    action = torch.tensor([[8.3], [2.6]], dtype=torch.float64, requires_grad=True)
    _, costs, flows = torch_transition(net, state, action, noise)
    assert flows.shipped.detach().numpy().ravel().tolist() == [8.0, 3.0]
    costs.total.sum().backward()
    assert action.grad.numpy().ravel().tolist() == pytest.approx([1.5, -8.5])


def test_rejects_non_finite_actions():
    net = make_network(load_env_config("lost_sales"))
    state = torch_initial_state(net, 1, torch.float64)
    noise = noise_to_torch(NoiseStream(net, 1, seed=0).draw(np.zeros(1)), torch.float64, "cpu")
    with pytest.raises(ValueError, match="non-finite"):
        torch_transition(net, state, torch.tensor([[float("nan")]], dtype=torch.float64), noise)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda_like_on_cpu():
    net = make_network(load_env_config("owmr_transship"))
    b = 8
    stream = NoiseStream(net, b, seed=1)
    noise = stream.draw(np.zeros(b))
    action = torch.rand(b, net.num_lanes, dtype=torch.float64) * 20
    out = {}
    for device in ("cpu", "cuda"):
        state = torch_initial_state(net, b, torch.float64, device)
        _, costs, _ = torch_transition(
            net, state, action.to(device), noise_to_torch(noise, torch.float64, device)
        )
        out[device] = costs.total.cpu().numpy()
    assert_allclose(out["cuda"], out["cpu"], rtol=1e-9)


def test_fixed_cost_surrogate_changes_the_gradient_not_the_cost():
    # Fixed cost 5 per shipment: charged exactly either way; with width 10 the gradient of
    # an order of 3 gains 5 / 10 (the ramp K * min(q / w, 1)), above the width it gains 0.
    net = build_network(
        {
            "nodes": [supplier(), store("store", holding_cost=1, penalty=9)],
            "lanes": [lane("supplier", "store", lead_time=0, fixed_cost=5)],
        }
    )
    noise = noise_to_torch(
        type(
            "N",
            (),
            {
                "demand": [[0.0], [0.0]],
                "lead_time": [[0], [0]],
                "node_disruption": None,
                "lane_disruption": None,
            },
        )(),
        torch.float64,
        "cpu",
    )
    grads, totals = [], []
    for width in (None, torch.tensor([10.0], dtype=torch.float64)):
        action = torch.tensor([[3.0], [12.0]], dtype=torch.float64, requires_grad=True)
        state = torch_initial_state(net, 2, torch.float64)
        _, costs, _ = torch_transition(net, state, action, noise, fixed_cost_width=width)
        costs.total.sum().backward()
        grads.append(action.grad.numpy().ravel().tolist())
        totals.append(costs.total.detach().numpy().tolist())
    assert totals[0] == totals[1] == [5.0 + 3.0, 5.0 + 12.0]
    assert grads[0] == pytest.approx([1.0, 1.0])
    assert grads[1] == pytest.approx([1.5, 1.0])
