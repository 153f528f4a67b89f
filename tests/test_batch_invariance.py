"""Env i's numbers do not depend on how many envs run beside it.

Each preset runs a random policy (actions drawn per env from the env's own seed) in
batches of 1024, 7 and 1; env i's rewards and cost components must be the same bits in
all three, over episodes that autoreset.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from envs.presets import PRESETS, load_env_config, make_network
from envs.simulator import Simulator

STEPS, EPISODE = 24, 10


def _actions(first_env: int, num_envs: int, num_lanes: int) -> np.ndarray:
    """Actions [T, B, E] in [-1.2, 1.2]: env i's come from its own generator."""
    out = np.empty((STEPS, num_envs, num_lanes))
    for j in range(num_envs):
        out[:, j] = np.random.default_rng(first_env + j).uniform(-1.2, 1.2, (STEPS, num_lanes))
    return out


def _run(net, num_envs: int, first_env: int, dtype) -> dict[str, np.ndarray]:
    sim = Simulator(
        net, num_envs, EPISODE, action_mode="quantity", seed=5, first_env=first_env, dtype=dtype
    )
    sim.reset()
    actions = _actions(first_env, num_envs, net.num_lanes)
    out: dict[str, list] = {}
    for t in range(STEPS):
        result = sim.step(actions[t])
        for name, value in {"reward": result.reward, **result.costs.as_dict()}.items():
            out.setdefault(name, []).append(value.copy())
        out.setdefault("obs", []).append(result.obs.copy())
    return {k: np.stack(v, axis=1) for k, v in out.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("preset", sorted(PRESETS.values()))
def test_env_numbers_are_the_same_in_any_batch(preset, dtype):
    net = make_network(load_env_config(preset))
    big = _run(net, 1024, 0, dtype)
    seven = _run(net, 7, 0, dtype)
    one = _run(net, 1, 5, dtype)
    for name, value in big.items():
        assert_array_equal(seven[name], value[:7], err_msg=f"{preset} {name} batch 7")
        assert_array_equal(one[name][0], value[5], err_msg=f"{preset} {name} batch 1")
