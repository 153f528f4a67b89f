"""numpy's PCG64 stream stepped in compiled code: the same doubles, without a Python call
per env.

``envs.noise.NoiseStream`` gives env i the stream ``PCG64(SeedSequence(seed, spawn_key=
(i,)))`` and refills a block of uniforms per env at a time. Calling ``Generator.random``
once per env costs ~1 us of Python per call, which at 4,096 envs was a sixth of a
``lost_sales`` step; here the streams' states live in one array and one compiled loop
fills every env's block.

The generator is O'Neill's PCG-XSL-RR 128/64 as numpy implements it
(``numpy/random/src/pcg64/pcg64.h``): a 128-bit LCG ``state = state * M + inc`` stepped
before each output, the output ``rotr64(hi ^ lo, hi >> 58)``, and a double
``(x >> 11) * 2**-53`` (``Generator.random``). ``tests/test_noise.py`` checks the doubles
against numpy's bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

# The 128-bit LCG multiplier (PCG_DEFAULT_MULTIPLIER_128), as its high and low words.
_MULT_HI = np.uint64(0x2360ED051FC65DA4)
_MULT_LO = np.uint64(0x4385DF649FCCF645)
_LOW32 = np.uint64(0xFFFFFFFF)
_U32, _U11, _U58, _MASK63 = np.uint64(32), np.uint64(11), np.uint64(58), np.uint64(63)
_ONE = np.uint64(1)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53


def stream_states(seed: int, first_env: int, num_envs: int) -> np.ndarray:
    """The starting states [4, B] (state high, state low, increment high, increment low)
    of env ``first_env + i``'s stream ``PCG64(SeedSequence(seed, spawn_key=(first_env+i,)))``."""
    states = np.empty((4, num_envs), dtype=np.uint64)
    mask = (1 << 64) - 1
    for i in range(num_envs):
        bit_generator = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(first_env + i,)))
        s = bit_generator.state["state"]
        states[:, i] = (s["state"] >> 64, s["state"] & mask, s["inc"] >> 64, s["inc"] & mask)
    return states


@numba.njit(cache=True, error_model="numpy", _nrt=False, inline="always")
def _mul_high(a, b):
    """The high 64 bits of the 128-bit product of two uint64 (from 32-bit halves)."""
    a0, a1 = a & _LOW32, a >> _U32
    b0, b1 = b & _LOW32, b >> _U32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> _U32) + (p01 & _LOW32) + (p10 & _LOW32)
    return p11 + (p01 >> _U32) + (p10 >> _U32) + (middle >> _U32)


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def fill_uniforms(states, out, floor):
    """Fill env i's uniforms ``out[:, :, i]`` ([periods, width, B]: period-major, env axis
    last) with the next doubles of its stream, period by period, each at least ``floor``
    (``np.maximum(u, floor)``), advancing ``states`` [4, B] in place. Envs are stepped side
    by side, 64 at a time: one stream's steps form a chain of dependent multiplies, and
    independent chains overlap (in vector registers)."""
    hi, lo, inc_hi, inc_lo = states[0], states[1], states[2], states[3]
    num_envs = np.uint64(out.shape[2])
    group = np.uint64(64)
    for g0 in range(np.uint64(0), num_envs, group):
        n = min(group, num_envs - g0)
        for j in range(out.shape[0]):
            for k in range(out.shape[1]):
                for t in range(n):
                    i = g0 + t
                    # state = state * M + inc (mod 2**128)
                    new_hi = _mul_high(lo[i], _MULT_LO) + lo[i] * _MULT_HI + hi[i] * _MULT_LO
                    new_lo = lo[i] * _MULT_LO
                    low = new_lo + inc_lo[i]
                    high = new_hi + inc_hi[i] + (_ONE if low < new_lo else np.uint64(0))
                    lo[i], hi[i] = low, high
                    # XSL-RR output: (hi ^ lo) rotated right by hi >> 58
                    x = high ^ low
                    r = high >> _U58
                    x = (x >> r) | (x << ((np.uint64(64) - r) & _MASK63))
                    out[j, k, i] = max((x >> _U11) * _TO_DOUBLE, floor)
