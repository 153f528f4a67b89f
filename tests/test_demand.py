"""Demand and lead-time processes: drawn values follow their documented distributions.

Expected moments are computed independently with scipy (or by hand) and compared with
large samples, within about 4 standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lane, single_node_config, store, supplier
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from scipy import stats

from envs.demand import DemandModel, parse_demand
from envs.network import build_network
from envs.noise import NoiseStream
from envs.sampling import StackedInverseCDF

N = 200_000


def draws(spec: dict, n: int = N, period: int = 0, seed: int = 0) -> np.ndarray:
    model = DemandModel([parse_demand(spec, "demand")], ["x"])
    u = np.random.default_rng(seed).random((n, 1))
    u = np.maximum(u, np.finfo(float).tiny)
    return model.draw(u, np.full(n, period))[:, 0]


def assert_moments(x: np.ndarray, mean: float, var: float) -> None:
    n = len(x)
    assert abs(x.mean() - mean) < 4 * np.sqrt(var / n), (x.mean(), mean)
    # Var of the sample variance ~ (mu4 - var^2)/n; a 4% band is > 4 SE for these shapes.
    assert x.var() == pytest.approx(var, rel=0.04), (x.var(), var)


def test_poisson_moments_and_frequencies():
    x = draws({"dist": "poisson", "mean": 4})
    assert_moments(x, 4, 4)
    assert (x == np.round(x)).all() and (x >= 0).all()
    k = np.arange(12)
    freq = np.array([(x == i).mean() for i in k])
    p = stats.poisson(4).pmf(k)
    assert (np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / N) + 1e-4).all()


def test_negative_binomial_moments():
    x = draws({"dist": "negative_binomial", "mean": 6, "std": 4})
    assert_moments(x, 6, 16)


def test_rounded_normal_moments():
    # mean 2, std 3: rounded to the nearest unit, with the mass below 0.5 at 0.
    mu, sigma = 2.0, 3.0
    k = np.arange(0, 40)
    upper = stats.norm.cdf((k + 0.5 - mu) / sigma)
    lower = np.where(k == 0, 0.0, stats.norm.cdf((k - 0.5 - mu) / sigma))
    p = upper - lower
    mean, var = (k * p).sum(), (k**2 * p).sum() - (k * p).sum() ** 2
    x = draws({"dist": "normal", "mean": mu, "std": sigma})
    assert_moments(x, mean, var)
    assert (x >= 0).all()
    assert (x == 0).mean() == pytest.approx(stats.norm.cdf((0.5 - mu) / sigma), abs=0.005)
    # Far from zero, rounding adds about 1/12 to the variance.
    y = draws({"dist": "normal", "mean": 30, "std": 3})
    assert_moments(y, 30, 9 + 1 / 12)


def test_deterministic_demand():
    assert_array_equal(draws({"dist": "deterministic", "mean": 3}, n=1000), np.full(1000, 3))


def test_pmf_sums_to_one_and_matches_scipy():
    model = DemandModel(
        [
            parse_demand({"dist": "poisson", "mean": 7}, "d"),
            parse_demand({"dist": "normal", "mean": 5, "std": 2}, "e"),
        ],
        ["a", "b"],
    )
    pmf = model.pmf(0)
    assert pmf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pmf[:20], stats.poisson(7).pmf(np.arange(20)), rtol=1e-9)
    assert model.pmf(1).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("phase", [0.0, 1.0])
def test_seasonal_multiplier_changes_mean_by_period(phase):
    # mean(t) = 10 * (1 + 0.5 sin(2 pi (t + phase) / 4)): [10, 15, 10, 5] for phase 0.
    spec = {
        "dist": "poisson",
        "mean": 10,
        "seasonality": {"period": 4, "amplitude": 0.5, "phase": phase},
    }
    expected = 10 * (1 + 0.5 * np.sin(2 * np.pi * (np.arange(4) + phase) / 4))
    for t in range(8):  # two cycles: the season repeats
        x = draws(spec, n=40_000, period=t, seed=t)
        m = expected[t % 4]
        assert abs(x.mean() - m) < 4 * np.sqrt(m / len(x)), (t, x.mean(), m)
    # Envs at different periods in one batch each get their own period's mean.
    model = DemandModel([parse_demand(spec, "d")], ["x"])
    periods = np.tile(np.arange(4), 40_000)
    u = np.random.default_rng(9).random((len(periods), 1))
    x = model.draw(u, periods)[:, 0]
    for t in range(4):
        assert abs(x[periods == t].mean() - expected[t]) < 4 * np.sqrt(expected[t] / 40_000)
    assert model.mean_demand[0] == pytest.approx(10.0)
    assert model.pmf(0, period=1) @ np.arange(len(model.pmf(0, 1))) == pytest.approx(expected[1])


PROMOTION = {"period": 6, "amplitude": 0.0, "promotions": [{"start": 2, "end": 4, "lift": 3}]}
CALENDAR = {"calendar": [1, 1, 3, 3, 1, 1]}


@pytest.mark.parametrize("season", [PROMOTION, CALENDAR], ids=["promotions", "calendar"])
def test_promotion_calendar_multiplies_the_mean_in_its_periods(season):
    # mean(t) = 4 * [1, 1, 3, 3, 1, 1][t % 6], either spelling.
    spec = {"dist": "poisson", "mean": 4, "seasonality": season}
    expected = 4 * np.array([1, 1, 3, 3, 1, 1])
    for t in range(12):  # two cycles
        x = draws(spec, n=40_000, period=t, seed=t)
        m = expected[t % 6]
        assert abs(x.mean() - m) < 4 * np.sqrt(m / len(x)), (t, x.mean(), m)
    model = DemandModel([parse_demand(spec, "d")], ["x"])
    assert model.season_period == 6
    assert model.mean_demand[0] == pytest.approx(expected.mean())
    # The peak's pmf is exactly Poisson(12): the tables are the same per-phase tables.
    np.testing.assert_allclose(model.pmf(0, period=8)[:30], stats.poisson(12).pmf(np.arange(30)))


def test_both_spellings_give_the_same_draws():
    u = np.random.default_rng(3).random((6000, 1))
    periods = np.arange(6000) % 6
    out = [
        DemandModel([parse_demand({"mean": 4, "seasonality": s}, "d")], ["x"]).draw(u, periods)
        for s in (PROMOTION, CALENDAR)
    ]
    assert_array_equal(*out)


def test_promotion_multiplies_a_sine_season():
    season = {"period": 8, "amplitude": 0.5, "promotions": [{"start": 1, "end": 3, "lift": 2}]}
    spec = parse_demand({"mean": 10, "seasonality": season}, "d")
    sine = 1 + 0.5 * np.sin(2 * np.pi * np.arange(8) / 8)
    np.testing.assert_allclose(spec.multipliers(), sine * [1, 2, 2, 1, 1, 1, 1, 1])


@pytest.mark.parametrize("rho", [0.8, -0.6])
def test_correlated_demand_has_the_requested_sign_and_size(rho):
    spec = parse_demand({"dist": "poisson", "mean": 8}, "d")
    model = DemandModel([spec, spec], ["a", "b"], correlation=rho)
    u = np.random.default_rng(1).random((N, 2))
    x = model.draw(u, np.zeros(N, dtype=np.int64))
    r = np.corrcoef(x.T)[0, 1]
    # A Gaussian copula on discrete margins shrinks the correlation a little.
    assert np.sign(r) == np.sign(rho)
    assert abs(r - rho) < 0.08, r
    # Margins are unchanged.
    assert_moments(x[:, 0], 8, 8)
    assert_moments(x[:, 1], 8, 8)


def test_correlation_matrix_across_three_nodes():
    spec = parse_demand({"dist": "poisson", "mean": 6}, "d")
    corr = np.array([[1.0, 0.5, -0.3], [0.5, 1.0, 0.0], [-0.3, 0.0, 1.0]])
    model = DemandModel([spec] * 3, ["a", "b", "c"], correlation=corr)
    u = np.random.default_rng(2).random((N, 3))
    r = np.corrcoef(model.draw(u, np.zeros(N, dtype=np.int64)).T)
    np.testing.assert_allclose(r, corr, atol=0.06)


def test_uncorrelated_demand_is_independent():
    cfg = single_node_config()
    cfg["nodes"].append(store("other"))
    cfg["lanes"].append(lane("supplier", "other"))
    net = build_network(cfg)
    stream = NoiseStream(net, 2000, seed=3)
    x = np.concatenate([stream.draw(np.zeros(2000, dtype=np.int64)).demand for _ in range(20)])
    assert abs(np.corrcoef(x.T)[0, 1]) < 0.03


def test_trace_replay_is_cyclic(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("b,a\n1,10\n2,20\n3,30\n")  # columns in another order than the nodes
    net = build_network(
        {
            "nodes": [supplier(), store("a"), store("b")],
            "lanes": [lane("supplier", "a"), lane("supplier", "b")],
            "demand_trace": str(path),
        }
    )
    assert_array_equal(net.demand.mean_demand, [20, 2])
    stream = NoiseStream(net, 2, seed=0)
    rows = [[10, 1], [20, 2], [30, 3]]
    for t in range(7):
        # Env 1 runs two periods ahead of env 0.
        nz = stream.draw(np.array([t, t + 2]))
        assert_array_equal(nz.demand, [rows[t % 3], rows[(t + 2) % 3]])


def test_lead_time_draws_match_their_distribution():
    net = build_network(
        {
            "nodes": [supplier(), store("s")],
            "lanes": [
                lane("supplier", "s", lead_time={"support": [0, 2, 5], "probs": [0.2, 0.5, 0.3]}),
                lane("supplier", "s", lead_time=3),
            ],
        }
    )
    stream = NoiseStream(net, 1000, seed=4)
    lt = np.concatenate([stream.draw(np.zeros(1000, dtype=np.int64)).lead_time for _ in range(40)])
    n = len(lt)
    for value, p in zip((0, 2, 5), (0.2, 0.5, 0.3)):
        assert abs((lt[:, 0] == value).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert set(np.unique(lt[:, 0])) == {0, 2, 5}
    assert (lt[:, 1] == 3).all()


def test_noise_streams_are_per_env_and_replayable():
    net = build_network(single_node_config(lead_time={"support": [1, 2, 3]}))
    period = np.zeros(4, dtype=np.int64)
    full = NoiseStream(net, 4, seed=21).path(200)
    again = NoiseStream(net, 4, seed=21)
    alone = NoiseStream(net, 1, seed=21, first_env=2)
    for t, nz in enumerate(full):
        replay = again.draw(period + t)
        assert_array_equal(replay.demand, nz.demand)
        assert_array_equal(replay.lead_time, nz.lead_time)
        one = alone.draw(period[:1] + t)
        assert_array_equal(one.demand[0], nz.demand[2])
        assert_array_equal(one.lead_time[0], nz.lead_time[2])
    other = NoiseStream(net, 4, seed=22).path(20)
    assert not np.array_equal([n.demand for n in other], [n.demand for n in full[:20]])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([0.0, 1e-12, 1e-4, 0.01, 0.2, 1.0, 5.0]), min_size=1, max_size=40
        ).filter(lambda w: sum(w) > 0),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 2**32 - 1),
)
def test_stacked_inverse_cdf_equals_searchsorted(weights, seed):
    # The sampler's documented contract: exactly searchsorted(cdf_r, u, side="right"),
    # including at CDF values themselves, at guide-cell edges and next to 0 and 1.
    pmfs = [np.array(w) / sum(w) for w in weights]
    sampler = StackedInverseCDF(pmfs)
    rng = np.random.default_rng(seed)
    cdfs = sampler.rows
    special = np.concatenate(
        [
            np.concatenate(cdfs)[np.concatenate(cdfs) < 1],
            np.arange(1, 64) / 64,
            [np.finfo(float).tiny, 1e-12, 0.5, 1 - 2**-53, 1 - 1e-12],
        ]
    )
    u = np.concatenate([rng.random(2000), special])
    u = np.maximum(u, np.finfo(float).tiny)
    rows = rng.integers(0, len(pmfs), size=len(u))
    got = sampler.sample(u, rows)
    want = np.array([np.searchsorted(cdfs[r], x, side="right") for r, x in zip(rows, u)])
    assert_array_equal(got, want)
    assert (got <= np.array([len(p) - 1 for p in pmfs])[rows]).all()
