"""Lead-time distributions of lanes.

A lane's lead time is either a whole number of periods (deterministic) or a
discrete distribution given by its support and probabilities. Lead times are
drawn independently per shipment, so shipments on a lane with a stochastic
lead time may cross (an order placed later can arrive earlier).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LeadTimeDistribution:
    """A discrete lead-time distribution in whole periods.

    Attributes:
        support: possible lead times, strictly increasing, each >= 0.
        probs: probability of each lead time, summing to one.
    """

    support: tuple[int, ...]
    probs: tuple[float, ...]

    @property
    def max(self) -> int:
        return self.support[-1]

    @property
    def mean(self) -> float:
        return float(np.dot(self.support, self.probs))

    @property
    def is_deterministic(self) -> bool:
        return len(self.support) == 1


def parse_lead_time(spec: Any, field: str) -> LeadTimeDistribution:
    """Build a lead-time distribution from a config value.

    Accepted forms: an integer ``2``; a mapping ``{support: [1, 2, 3], probs: [0.2, 0.5, 0.3]}``
    (``probs`` omitted means uniform); a mapping ``{value: 2}``.

    Raises:
        ValueError: naming ``field`` and the offending value, for an empty or negative
            support, probabilities that do not sum to one, or a non-integer lead time.
    """
    if isinstance(spec, Mapping):
        if "value" in spec:
            return parse_lead_time(spec["value"], field)
        if "support" not in spec:
            raise ValueError(f"{field}: a lead-time mapping needs 'support' (got {dict(spec)!r})")
        support = list(spec["support"])
        probs = spec.get("probs")
        if not support:
            raise ValueError(f"{field}.support: empty lead-time support")
        probs = [1.0 / len(support)] * len(support) if probs is None else list(probs)
    elif isinstance(spec, bool) or spec is None:
        raise ValueError(f"{field}: lead time must be an integer or a distribution, got {spec!r}")
    else:
        support, probs = [spec], [1.0]

    values = []
    for value in support:
        if not float(value).is_integer():
            raise ValueError(f"{field}: lead times are whole periods, got {value!r}")
        if value < 0:
            raise ValueError(f"{field}: negative lead time {value!r}")
        values.append(int(value))
    if len(probs) != len(values):
        raise ValueError(
            f"{field}.probs: {len(probs)} probabilities for {len(values)} support points"
        )
    p = np.asarray(probs, dtype=float)
    if np.any(~np.isfinite(p)) or np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-9):
        raise ValueError(f"{field}.probs: must be non-negative and sum to 1, got {list(probs)!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{field}.support: repeated lead times {values!r}")
    order = np.argsort(values)
    return LeadTimeDistribution(
        support=tuple(int(values[i]) for i in order),
        probs=tuple(float(p[i] / p.sum()) for i in order),
    )
