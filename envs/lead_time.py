"""Lead-time distributions of lanes.

A lane's lead time is either a whole number of periods (deterministic) or a
discrete distribution given by its support and probabilities. Lead times are
drawn independently per shipment, so shipments on a lane with a stochastic
lead time may cross (an order placed later can arrive earlier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.schema import LeadTimeSpec, LeadTimeValueSpec, parse


@dataclass(frozen=True)
class LeadTimeDistribution:
    """A discrete lead-time distribution in whole periods.

    Attributes:
        support: possible lead times, strictly increasing, each >= 0.
        probs: probability of each lead time, summing to one.
    """

    support: tuple[int, ...]
    probs: tuple[float, ...]

    @classmethod
    def of(cls, config: Any) -> LeadTimeDistribution:
        """From a validated lead time (``envs.schema.LeadTimeSpec``): support sorted,
        probabilities renormalised to sum exactly to one."""
        if isinstance(config, int):
            return cls(support=(config,), probs=(1.0,))
        if isinstance(config, LeadTimeValueSpec):
            return cls(support=(config.value,), probs=(1.0,))
        support = list(config.support)
        probs = config.probs or [1.0 / len(support)] * len(support)
        p = np.asarray(probs, dtype=float)
        order = np.argsort(support)
        return cls(
            support=tuple(int(support[i]) for i in order),
            probs=tuple(float(p[i] / p.sum()) for i in order),
        )

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
    """A lead-time distribution from a config value, validated against the schema
    (``envs.schema.LeadTimeSpec``): an integer ``2``; ``{value: 2}``; or
    ``{support: [1, 2, 3], probs: [0.2, 0.5, 0.3]}`` (``probs`` omitted: uniform).

    Raises:
        ConfigError: one line naming ``field`` and the offending value.
    """
    return LeadTimeDistribution.of(parse(LeadTimeSpec, spec, field))
