"""The noise streams draw numpy's PCG64 doubles (envs.pcg64 steps them in compiled code)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.noise import NoiseStream
from envs.pcg64 import fill_uniforms, stream_states
from envs.presets import load_env_config, make_network


def numpy_doubles(seed: int, env: int, shape: tuple[int, ...], draws: int) -> list[np.ndarray]:
    """``draws`` successive ``Generator.random(shape)`` of env ``env``'s stream."""
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(env,))))
    return [gen.random(shape) for _ in range(draws)]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    first_env=st.integers(0, 10**6),
    num_envs=st.integers(1, 140),  # groups of 64 and a partial one
    block=st.integers(1, 5),
    width=st.integers(1, 9),
)
def test_compiled_stream_is_numpys_pcg64(seed, first_env, num_envs, block, width):
    states = stream_states(seed, first_env, num_envs)
    blocks = [np.empty((block, width, num_envs)) for _ in range(3)]  # period-major
    for out in blocks:
        fill_uniforms(states, out, 0.0)
    for i in range(num_envs):
        expected = numpy_doubles(seed, first_env + i, (block, width), 3)
        for out, want in zip(blocks, expected):
            np.testing.assert_array_equal(out[:, :, i], want)


def test_floor_is_applied_as_np_maximum():
    states = stream_states(7, 0, 3)
    out = np.empty((4, 2, 3))
    fill_uniforms(states, out, 0.5)
    want = np.stack(
        [np.maximum(d[0], 0.5) for d in (numpy_doubles(7, i, (4, 2), 1) for i in range(3))]
    )
    np.testing.assert_array_equal(out.transpose(2, 0, 1), want)


def test_noise_stream_reads_each_env_stream_in_order():
    net = make_network(load_env_config("network"))
    stream = NoiseStream(net, num_envs=5, seed=11, first_env=2, block=3)
    rows = []
    for _ in range(7):  # across three refills
        rows.append(stream.next_uniforms().T.copy())  # [B, width]
    got = np.stack(rows, axis=1)  # [B, periods, width]
    for i in range(5):
        want = np.concatenate(numpy_doubles(11, 2 + i, (3, stream.width), 3))[:7]
        np.testing.assert_array_equal(got[i], np.maximum(want, np.finfo(float).tiny))
