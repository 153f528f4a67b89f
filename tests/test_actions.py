"""Actions are checked the same way in every mode, before any noise is drawn."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import single_node_config

from envs.actions import ACTION_MODES, MAX_UNITS
from envs.presets import load_env_config, make_network
from envs.simulator import Simulator

B = 3


def _sim(mode: str, seed: int = 5, dtype=np.float32) -> Simulator:
    net = make_network(load_env_config("owmr_transship"))
    return Simulator(net, num_envs=B, action_mode=mode, seed=seed, dtype=dtype)


def _valid(sim: Simulator, rng: np.random.Generator) -> np.ndarray:
    space = sim.actions.space
    space.seed(int(rng.integers(1 << 31)))
    return np.stack([space.sample() for _ in range(sim.num_envs)])


WRONG_SHAPES = {
    "batch too large": lambda e: (B + 1, e),
    "batch too small": lambda e: (1, e),
    "a lane too many": lambda e: (B, e + 1),
    "unbatched": lambda e: (e,),
    "extra axis": lambda e: (B, e, 1),
}


@pytest.mark.parametrize("mode", ACTION_MODES)
@pytest.mark.parametrize("shape", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_wrong_shape_or_batch_size_gets_the_same_error_in_every_mode(mode, shape):
    sim = _sim(mode)
    e = sim.net.num_lanes
    with pytest.raises(ValueError, match=rf"^action: expected shape \[{B}, {e}\] .*got "):
        sim.step(np.zeros(shape(e)))


@pytest.mark.parametrize("mode", ACTION_MODES)
def test_rejected_action_consumes_no_noise(mode):
    rng = np.random.default_rng(0)
    clean, hit = _sim(mode), _sim(mode)
    actions = [_valid(clean, rng) for _ in range(6)]
    e = clean.net.num_lanes
    bad = [np.full((B, e), np.nan), np.full((B, e), -np.inf), np.zeros((B + 1, e))]
    for t, action in enumerate(actions):
        a = clean.step(action)
        if t in (1, 3, 4):
            with pytest.raises(ValueError, match="^action: "):
                hit.step(bad[t % 3])
        b = hit.step(action)
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.flows.demand, b.flows.demand)


@pytest.mark.parametrize("mode", ["raw", "discrete", "quantity", "order_up_to"])
def test_huge_finite_action_is_clipped_like_any_over_capacity_quantity(mode):
    cfg = single_node_config(lane={"capacity": 30})
    huge = Simulator(cfg, num_envs=2, action_mode=mode, seed=1)
    over = Simulator(cfg, num_envs=2, action_mode=mode, seed=1)
    top = 1.0 if mode in ("quantity", "order_up_to") else 100.0
    for _ in range(5):
        a = huge.step(np.full((2, 1), 1e39))
        b = over.step(np.full((2, 1), top))
        assert np.isfinite(a.reward).all() and np.isfinite(a.obs).all()
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.flows.shipped, b.flows.shipped)
        assert (a.flows.shipped <= 30).all()
        if mode in ("raw", "discrete"):
            assert (a.flows.clipped == MAX_UNITS - 30).all()  # counted as clipped


def test_huge_action_on_an_uncapacitated_lane_stays_finite_in_float32():
    sim = Simulator(single_node_config(), num_envs=1, action_mode="raw", seed=0)
    result = sim.step(np.array([[1e39]]))
    assert result.flows.shipped[0, 0] == MAX_UNITS
    assert np.isfinite(result.reward).all() and np.isfinite(sim.state.pipeline).all()
