"""The one typed schema of a network description, and its one-line errors.

Every way of describing a network — a Hydra preset with its ``+env.network...`` overrides,
a YAML edge list, a Python dict given to ``build_network`` — is validated here, once,
by pydantic models that forbid unknown keys, take no string for a number, no NaN or
infinity (except an infinite capacity) and no fractional unit quantities. Defaults live
in these models only; ``envs.network.build_network`` reads the validated models.

``validate_network`` then checks what a single field cannot: node names, lane ends,
cycles of replenishment lanes, penalties of demand nodes, a path from a supplier to
every demand node, the joint season cycle.

Any problem is raised as one ``ConfigError`` (a ``ValueError``) of one line naming the
field path and the value, e.g. ``nodes[2].holdng_cost: unknown key (value 1); did you
mean holding_cost?``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_LEAD_TIME = 1000
"""Longest lead time, in periods: the pipeline state and the observation hold one slot
per period of the longest lead time of every lane."""
MAX_SEASON_PERIOD = 1000
"""Longest season (of one node, and of all nodes jointly): demand tables, observations
and seasonal baselines hold one row per phase."""
MAX_DEMAND = 1e5
"""Largest mean (and std) of demand per period: each node's demand is drawn from a table
of its whole values up to the 1 - 1e-10 quantile, one per season phase."""


class ConfigError(ValueError):
    """A bad configuration value: one line, naming the field path and the value."""


# --------------------------------------------------------------------------- value types


def whole_units(value: float) -> float:
    """Reject a finite fractional number of units (infinity passes: an unbounded capacity)."""
    if math.isfinite(value) and not float(value).is_integer():
        raise PydanticCustomError("whole_units", "must be a whole number of units")
    return value


def _not_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        raise PydanticCustomError("finite_number", "must be a number, not NaN")
    return value


def whole_number(value: Any) -> Any:
    """2.0 -> 2 (a whole number written as a float, as ``1e6`` on a command line); 2.5 is
    rejected. For int fields, before pydantic's strict int check."""
    if isinstance(value, float) and math.isfinite(value):
        if not value.is_integer():
            raise PydanticCustomError("whole_number", "must be a whole number")
        return int(value)
    return value


def _list_from_tuple(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


Cost = Annotated[float, Field(ge=0)]
"""A finite non-negative rate (cost per unit, per period, per shipment)."""
Probability = Annotated[float, Field(ge=0, le=1)]
Units = Annotated[float, Field(ge=0), AfterValidator(whole_units)]
"""A finite non-negative whole number of units."""
Capacity = Annotated[
    float, Field(ge=0, allow_inf_nan=True), BeforeValidator(_not_nan), AfterValidator(whole_units)
]
"""A whole number of units, or ``.inf`` (YAML) / ``inf`` (override) / ``math.inf``."""
LeadTime = Annotated[int, BeforeValidator(whole_number), Field(ge=0, le=MAX_LEAD_TIME)]
"""Whole periods from shipment to arrival (0: the same period)."""
SeasonPeriod = Annotated[int, BeforeValidator(whole_number), Field(ge=1, le=MAX_SEASON_PERIOD)]


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error of a check across fields, reported at ``field`` of the model, with a
    message that already names the values."""
    return PydanticCustomError("own", message.replace("{", "(").replace("}", ")"), {"at": field})


class StrictModel(BaseModel):
    """Unknown keys rejected with the closest valid key; strict types; finite numbers."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        frozen=True,
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = sorted(cls.model_fields)
            for key in data:
                if key in cls.model_fields:
                    continue
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(known)}"
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key; {hint}",
                    {"key": key, "hint": hint, "value": data[key]},
                )
        return data


def _tagged(choose: Any, field: str, members: dict[str, type]) -> Any:
    """A union discriminated by ``choose(value)``; an unknown tag names ``field``."""
    union = None
    for tag, model in members.items():
        member = Annotated[model, Tag(tag)]
        union = member if union is None else union | member
    return Annotated[
        union,
        # The error type carries the field and the tags (a context dict would make the
        # annotation unhashable, which ``X | None`` needs).
        Discriminator(
            choose,
            custom_error_type=f"unknown_tag:{field}:{', '.join(members)}",
            custom_error_message="unknown tag",
        ),
    ]


def _by_key(key: str, default: str):
    def choose(value: Any) -> str | None:
        if isinstance(value, Mapping):
            return value.get(key, default)
        return getattr(value, key, None)

    return choose


# --------------------------------------------------------------------------- disruptions


EpisodePeriod = Annotated[int, BeforeValidator(whole_number), Field(ge=0, le=10**7)]


class OutageSpec(StrictModel):
    """A scheduled outage: down in periods ``start <= t < end`` of every episode."""

    start: EpisodePeriod
    """First period of the outage (episode time, from 0)."""
    end: EpisodePeriod
    """First period after the outage."""

    @model_validator(mode="after")
    def _ordered(self) -> OutageSpec:
        if self.end <= self.start:
            raise field_error("end", f"must be after start {self.start}, got {self.end}")
        return self


class DisruptionSpec(StrictModel):
    """An up/down Markov process of a node or lane (off when ``failure_prob`` is 0), and
    scheduled outages known in advance."""

    failure_prob: Probability = 0.0
    """Probability that an up node/lane goes down at the start of a period."""
    recovery_prob: Probability = 1.0
    """Probability that a down node/lane comes back up at the start of a period."""
    outages: Annotated[list[OutageSpec], BeforeValidator(_list_from_tuple)] = []
    """Scheduled outages ``[{start, end}]``: down in periods start..end-1 of each episode."""


# --------------------------------------------------------------------------- demand


Multiplier = Annotated[float, Field(gt=0)]
"""A finite positive factor of the mean demand."""
SeasonIndex = Annotated[int, BeforeValidator(whole_number), Field(ge=0, le=MAX_SEASON_PERIOD)]


class PromotionSpec(StrictModel):
    """A promotion known in advance: the mean demand times ``lift`` in periods
    ``start, ..., end - 1`` of every season cycle."""

    start: SeasonIndex
    """First period of the promotion in the cycle (0-based)."""
    end: SeasonIndex
    """Period after the last one of the promotion (at most the season ``period``)."""
    lift: Multiplier
    """Factor of the mean demand during the promotion (> 0; 3 triples it)."""

    @model_validator(mode="after")
    def _ordered(self) -> PromotionSpec:
        if self.end <= self.start:
            raise field_error(
                "end", f"{self.end} must be after start {self.start} (end is exclusive)"
            )
        return self


_SINE_KEYS = ("period", "amplitude", "phase", "promotions")


class SeasonalitySpec(StrictModel):
    """Seasonal multiplier of the mean, known in advance, in one of two spellings:

    - a sine plus promotions: ``1 + amplitude * sin(2 pi (t + phase) / period)``, times
      ``lift`` in the periods of each promotion (``{period: 26, promotions: [{start: 20,
      end: 23, lift: 3}]}``);
    - a calendar: the multiplier of every period of the cycle, whose length is the
      cycle's (``{calendar: [1, 1, 2.5, 2.5, 1, 1]}``).
    """

    period: SeasonPeriod = 1
    """Whole periods per season cycle."""
    amplitude: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Relative swing of the mean, in [0, 1)."""
    phase: float = 0.0
    """Shift of the sine, in periods (promotions are not shifted)."""
    promotions: Annotated[list[PromotionSpec], BeforeValidator(_list_from_tuple)] = []
    """Promotions within the cycle, none overlapping (each multiplies the sine)."""
    calendar: (
        Annotated[
            list[Multiplier],
            BeforeValidator(_list_from_tuple),
            Field(min_length=1, max_length=MAX_SEASON_PERIOD),
        ]
        | None
    ) = None
    """Multiplier of each period of a cycle of at most 1000 periods (> 0 each); replaces
    every other key."""

    @model_validator(mode="after")
    def _one_spelling(self) -> SeasonalitySpec:
        if self.calendar is not None:
            for key in _SINE_KEYS:
                if key in self.model_fields_set:
                    raise field_error(
                        key,
                        f"{getattr(self, key)!r} beside a calendar (a calendar gives the "
                        f"multiplier of every period; drop {key} or the calendar)",
                    )
        previous: tuple[int, PromotionSpec] | None = None
        for i, promo in sorted(enumerate(self.promotions), key=lambda item: item[1].start):
            if promo.end > self.period:
                raise field_error(
                    f"promotions[{i}].end",
                    f"{promo.end} is past the season cycle of period {self.period}",
                )
            if previous is not None and promo.start < previous[1].end:
                raise field_error(
                    f"promotions[{i}]",
                    f"periods {promo.start}..{promo.end - 1} overlap promotions[{previous[0]}] "
                    f"(periods {previous[1].start}..{previous[1].end - 1})",
                )
            previous = (i, promo)
        return self

    @property
    def cycle(self) -> int:
        """Whole periods per cycle: the calendar's length, else ``period``."""
        return len(self.calendar) if self.calendar is not None else self.period

    def multipliers(self) -> np.ndarray:
        """The multiplier of the mean demand in each phase 0..cycle-1."""
        if self.calendar is not None:
            return np.array(self.calendar, dtype=float)
        out = season_multipliers(self.period, self.amplitude, self.phase)
        for promo in self.promotions:
            out[promo.start : promo.end] *= promo.lift
        return out


def season_multipliers(period: int, amplitude: float, phase: float) -> np.ndarray:
    """The multiplier of the mean demand in each phase 0..period-1 of a sine season."""
    t = np.arange(period)
    return 1.0 + amplitude * np.sin(2 * np.pi * (t + phase) / period)


DemandSize = Annotated[float, Field(ge=0, le=MAX_DEMAND)]


class _DemandBase(StrictModel):
    mean: DemandSize
    """Mean demand per period (before the seasonal multiplier)."""
    seasonality: SeasonalitySpec | None = None
    """Optional seasonal multiplier of the mean (the std scales with it)."""


class PoissonDemand(_DemandBase):
    """Poisson demand."""

    dist: Literal["poisson"] = "poisson"
    """The distribution (Poisson when omitted)."""


class NormalDemand(_DemandBase):
    """Normal demand, rounded to the nearest whole unit and at zero."""

    dist: Literal["normal"]
    """The distribution."""
    std: Annotated[float, Field(gt=0, le=MAX_DEMAND)]
    """Standard deviation per period (> 0)."""


class NegativeBinomialDemand(_DemandBase):
    """Negative-binomial demand (scipy's ``nbinom``), given by mean and std."""

    dist: Literal["negative_binomial"]
    """The distribution."""
    std: Annotated[float, Field(gt=0, le=MAX_DEMAND)]
    """Standard deviation per period: the variance must exceed the mean in every season
    phase (it scales with the multiplier squared, the mean with the multiplier)."""

    @model_validator(mode="after")
    def _over_dispersed(self) -> NegativeBinomialDemand:
        if self.mean <= 0:
            raise field_error("mean", f"negative binomial needs mean > 0, got {self.mean:g}")
        m = float(self.seasonality.multipliers().min()) if self.seasonality else 1.0
        if (self.std * m) ** 2 <= self.mean * m:
            raise field_error(
                "std",
                "negative binomial needs variance > mean in every season phase; "
                f"std={self.std:g} mean={self.mean:g} at multiplier {m:.4g} give variance "
                f"{(self.std * m) ** 2:.4g} <= mean {self.mean * m:.4g} "
                "(use poisson or a larger std)",
            )
        return self


class DeterministicDemand(_DemandBase):
    """The same whole demand every period (times the seasonal multiplier, rounded)."""

    dist: Literal["deterministic"]
    """The distribution."""
    mean: Annotated[Units, Field(le=MAX_DEMAND)]
    """Demand every period, whole units (before the seasonal multiplier)."""


DemandDistribution = _tagged(
    _by_key("dist", "poisson"),
    "dist",
    {
        "poisson": PoissonDemand,
        "negative_binomial": NegativeBinomialDemand,
        "normal": NormalDemand,
        "deterministic": DeterministicDemand,
    },
)


# --------------------------------------------------------------------------- lead times


class LeadTimeDistributionSpec(StrictModel):
    """A discrete lead-time distribution: ``{support: [1, 2, 3], probs: [...]}``."""

    support: Annotated[
        list[LeadTime], BeforeValidator(_list_from_tuple), Field(min_length=1, max_length=1000)
    ]
    """Possible lead times (whole periods, distinct)."""
    probs: Annotated[list[Probability], BeforeValidator(_list_from_tuple)] | None = None
    """Probability of each lead time, summing to 1 (omitted: uniform)."""

    @model_validator(mode="after")
    def _consistent(self) -> LeadTimeDistributionSpec:
        if len(set(self.support)) != len(self.support):
            raise field_error("support", f"repeated lead times in {self.support}")
        if self.probs is not None:
            if len(self.probs) != len(self.support):
                raise field_error(
                    "probs",
                    f"{len(self.probs)} probabilities for {len(self.support)} support points",
                )
            if not math.isclose(sum(self.probs), 1.0, abs_tol=1e-9):
                raise field_error("probs", f"must sum to 1, got {self.probs}")
        return self


class LeadTimeValueSpec(StrictModel):
    """A fixed lead time written as a mapping: ``{value: 2}``."""

    value: LeadTime
    """The lead time, whole periods."""


def _lead_time_form(value: Any) -> str:
    if isinstance(value, Mapping):
        return "value" if "value" in value else "distribution"
    return "fixed"


LeadTimeSpec = _tagged(
    _lead_time_form,
    "lead_time",
    {
        "fixed": Annotated[LeadTime, Field()],
        "distribution": LeadTimeDistributionSpec,
        "value": LeadTimeValueSpec,
    },
)


# --------------------------------------------------------------------------- nodes and lanes

Name = Annotated[str, Field(min_length=1)]


class SupplierNode(StrictModel):
    """An external source; it holds no stock and has no customers."""

    name: Name
    """Unique node name."""
    kind: Literal["supplier"]
    """An external source: ships up to ``capacity``, holds no stock."""
    capacity: Capacity = math.inf
    """Units it can ship per period."""
    disruption: DisruptionSpec = DisruptionSpec()
    """Up/down process of the node: a down node ships nothing."""


class StockNode(StrictModel):
    """A stocking node (warehouse, DC, store), optionally with customer demand."""

    name: Name
    """Unique node name."""
    kind: Literal["stock"] = "stock"
    """A stocking node (the default kind)."""
    storage_capacity: Capacity = math.inf
    """Most units the node can hold on hand; arrivals beyond it are disposed of."""
    holding_cost: Cost = 0.0
    """Cost per unit on hand at the end of a period."""
    initial_on_hand: Units = 0.0
    """On-hand stock at the start of an episode (at most ``storage_capacity``)."""
    demand: DemandDistribution | None = None
    """Customer demand, e.g. ``{dist: poisson, mean: 5}``; none when omitted."""
    unmet: Literal["backlog", "lost"] = "backlog"
    """What happens to demand that cannot be served."""
    penalty: Cost | None = None
    """Backlog cost per unit per period, or lost-sales penalty per unit lost; required
    with ``demand``."""
    overflow_cost: Cost = 0.0
    """Cost per unit disposed of because it arrived beyond ``storage_capacity``."""
    facility_cost: Cost = 0.0
    """Fixed cost per period of keeping the node open (rent, staff), charged every period."""
    handling_cost: Cost = 0.0
    """Cost per unit shipped out of the node (to another node or to customers)."""
    disruption: DisruptionSpec = DisruptionSpec()
    """Up/down process of the node: a down node ships nothing."""


NodeSpec = _tagged(_by_key("kind", "stock"), "kind", {"supplier": SupplierNode, "stock": StockNode})


class LaneSpec(StrictModel):
    """A directed lane from ``source`` to ``destination``."""

    source: Name
    """Name of the node that ships (a supplier or a stock node)."""
    destination: Name
    """Name of the stock node that receives."""
    kind: Literal["replenishment", "transfer"] = "replenishment"
    """``transfer``: lateral, between stocking nodes (always so in ``transfer_lanes``)."""
    lead_time: LeadTimeSpec = 0
    """Whole periods: an int, ``{value: L}`` or ``{support: [...], probs: [...]}``."""
    unit_cost: Cost = 0.0
    """Cost per unit shipped."""
    fixed_cost: Cost = 0.0
    """Charged in every period in which the lane ships a positive quantity."""
    capacity: Capacity = math.inf
    """Most units shipped per period; larger actions are clipped (and counted)."""
    in_transit_holding: Cost = 0.0
    """Cost per unit per period while in transit."""
    max_order: Units | None = None
    """Upper end of the action range (default: ``capacity`` if finite, else derived from
    the mean demand served through the destination)."""
    disruption: DisruptionSpec = DisruptionSpec()
    """Up/down process of the lane: a down lane carries no new shipment."""


_CorrelationRow = Annotated[
    list[Annotated[float, Field(ge=-1, le=1)]], BeforeValidator(_list_from_tuple)
]


class TransferLaneSpec(LaneSpec):
    """A lateral lane of ``transfer_lanes``: a ``LaneSpec`` whose kind is ``transfer``."""

    kind: Literal["transfer"] = "transfer"
    """Always ``transfer``."""


Correlation = _tagged(
    lambda v: "scalar" if isinstance(v, int | float) else "matrix",
    "demand_correlation",
    {
        "scalar": Annotated[float, Field(ge=-1, le=1)],
        "matrix": Annotated[list[_CorrelationRow], BeforeValidator(_list_from_tuple)],
    },
)


class FulfilmentLaneSpec(StrictModel):
    """How a demand zone can be served: from ``source``'s stock (or, from a supplier, by
    drop-ship), delivered ``delivery_time`` periods after it ships."""

    source: Name
    """A stock node (its on-hand) or a supplier (drop-ship, up to its capacity left)."""
    delivery_time: LeadTime = 0
    """Whole periods from shipment to the customer (0: the same period)."""
    unit_cost: Cost = 0.0
    """Transport cost per unit delivered (local vs long-haul)."""
    capacity: Capacity = math.inf
    """Most units delivered per period."""


class ZoneSpec(StrictModel):
    """A demand zone: customers apart from stock, served through fulfilment lanes tried in
    the order listed (nearest first, then the next, ...)."""

    name: Name
    """Unique zone name (not a node's name)."""
    demand: DemandDistribution
    """Customer demand of the zone, e.g. ``{dist: poisson, mean: 5}``."""
    unmet: Literal["backlog", "lost"] = "lost"
    """What happens to demand that no lane can serve this period."""
    penalty: Cost
    """Backlog cost per unit per period, or lost-sales penalty per unit lost."""
    fulfilment: Annotated[
        list[FulfilmentLaneSpec], BeforeValidator(_list_from_tuple), Field(min_length=1)
    ]
    """The fulfilment lanes, in the order they are tried."""


class SkuSpec(StrictModel):
    """One SKU of a multi-SKU network (``skus``): every SKU has its own stock at the nodes
    that hold it and its own demand at every demand point, and the SKUs share the nodes'
    storage and the lanes' capacity (``envs.skus``)."""

    name: Name
    """Unique SKU name (a node of the network becomes ``node/sku`` for each SKU it holds)."""
    demand_scale: Annotated[float, Field(gt=0, le=MAX_DEMAND)] = 1.0
    """Multiplier of every demand point's mean demand for this SKU (and of its std)."""
    demand_cv: Annotated[float, Field(gt=0, le=100)] | None = None
    """Coefficient of variation of the SKU's demand per period at every point: negative
    binomial with std = ``demand_cv`` x mean (needs ``demand_cv**2 * mean > 1`` in every
    season phase); omitted: the point's own distribution, scaled."""
    value: Multiplier = 1.0
    """Multiplier of the per-unit holding, in-transit holding and overflow costs and of the
    penalty (a unit worth twice as much costs twice as much to hold and to lose)."""
    volume: Multiplier = 1.0
    """Storage and lane capacity one unit takes, and multiplier of the per-unit transport
    cost (lanes' and fulfilment lanes' ``unit_cost``)."""
    stocked_at: Annotated[list[Name], BeforeValidator(_list_from_tuple)] | None = None
    """The stock nodes that hold the SKU (omitted: every stock node); lanes and
    fulfilment lanes through the other nodes do not carry it. Every node with its own
    demand must hold every SKU."""
    drop_ship: bool = True
    """Whether the zones' fulfilment lanes from suppliers (drop-ship) carry the SKU."""


class NetworkSpec(StrictModel):
    """Nodes, lanes and network-wide options (``env.network``, an edge list, a dict)."""

    nodes: Annotated[list[NodeSpec], BeforeValidator(_list_from_tuple), Field(min_length=1)]
    """The nodes (an edge list gives them as a mapping ``name: {attributes}``)."""
    lanes: Annotated[list[LaneSpec], BeforeValidator(_list_from_tuple), Field(min_length=1)]
    """The lanes (an edge list gives them as ``edges: [[source, destination, {...}]]``)."""
    transfer_lanes: Annotated[list[TransferLaneSpec], BeforeValidator(_list_from_tuple)] = []
    """Lateral lanes listed apart, so a preset can add them to another's lanes."""
    zones: Annotated[list[ZoneSpec], BeforeValidator(_list_from_tuple)] = []
    """Demand zones served through fulfilment lanes (a node's own ``demand`` is a zone
    served by that node alone, delivered at once)."""
    rationing: Literal["proportional", "priority"] = "proportional"
    """How a source short of stock splits it among its lanes."""
    demand_correlation: Correlation | None = None
    """Gaussian-copula correlation across demand points (demand nodes, then zones): a
    scalar (equicorrelation) or a D x D matrix."""
    demand_trace: Name | None = None
    """CSV whose columns are the demand points' names (nodes, zones), replayed cyclically."""
    skus: Annotated[list[SkuSpec], BeforeValidator(_list_from_tuple)] = []
    """Several SKUs on the network, sharing storage and lane capacity (``envs.skus``);
    none: one product."""

    @property
    def all_lanes(self) -> list[tuple[str, LaneSpec]]:
        """(path, lane) of every lane: ``lanes`` then ``transfer_lanes``."""
        return [(f"lanes[{j}]", e) for j, e in enumerate(self.lanes)] + [
            (f"transfer_lanes[{j}]", e) for j, e in enumerate(self.transfer_lanes)
        ]


# --------------------------------------------------------------------------- entry points


def plain(value: Any) -> Any:
    """Plain Python data from an OmegaConf node, a pydantic model, a dataclass or numpy
    values, so that every form of a config meets the same strict schema."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(err: ValidationError, prefix: str = "") -> str:
    """The first error of a pydantic ``ValidationError`` as ``path: problem, got value``."""
    e = err.errors()[0]
    loc = list(e["loc"])
    # The tag of a discriminated union follows the union's field (or list index): drop it.
    unions = {"demand", "lead_time", "demand_correlation"}
    loc = [
        p
        for i, p in enumerate(loc)
        if not (
            i
            and isinstance(p, str)
            and (loc[i - 1] in unions or (isinstance(loc[i - 1], int) and loc[i - 2] == "nodes"))
        )
    ]
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    if kind == "own":
        loc.append(ctx["at"])
        problem = e["msg"]
    elif kind == "unknown_key":
        loc.append(ctx["key"])
        problem = f"unknown key (value {_short(ctx['value'])}); {ctx['hint']}"
    elif kind.startswith("unknown_tag:"):
        _, field, expected = kind.split(":", 2)
        if isinstance(value, Mapping):
            loc.append(field)
            problem = f"must be one of {expected}, got {_short(value.get(field))}"
        else:
            problem = f"expected a mapping, got {_short(value)}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        problem = f"expected a mapping, got {_short(value)}"
    elif kind == "missing":
        problem = "required, missing"
    elif kind.startswith(("float", "int")) and kind.endswith(("type", "parsing")):
        problem = f"expected a number, got {_short(value)}"
    else:
        msg = e["msg"].replace("\n", " ")
        msg = msg.removeprefix("Value error, ")
        problem = f"{msg[:1].lower()}{msg[1:]}, got {_short(value)}"
    path = _path(tuple(loc))
    where = f"{prefix}.{path}" if prefix and path else (prefix or path)
    return f"{where}: {problem}" if where else problem


def parse(model: Any, data: Any, prefix: str = "") -> Any:
    """Validate ``data`` against ``model`` (a model class or an annotated type); a failure
    is a one-line ``ConfigError`` whose path starts with ``prefix``."""
    from pydantic import TypeAdapter

    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(plain(data))
        return TypeAdapter(model).validate_python(plain(data))
    except ValidationError as err:
        raise ConfigError(one_line(err, prefix)) from None


def validate_network(cfg: Any, prefix: str = "") -> NetworkSpec:
    """Validate a network description (dict, OmegaConf node, ``NetworkSpec``) against the
    schema, then the checks across fields; raises a one-line ``ConfigError``."""
    spec = cfg if isinstance(cfg, NetworkSpec) else parse(NetworkSpec, cfg, prefix)
    try:
        _check_network(spec)
    except ConfigError as err:
        raise ConfigError(f"{prefix}.{err}" if prefix else str(err)) from None
    return spec


def _check_network(spec: NetworkSpec) -> None:
    names: dict[str, int] = {}
    for i, node in enumerate(spec.nodes):
        if node.name in names:
            raise ConfigError(f"nodes[{i}].name: duplicate node name {node.name!r}")
        names[node.name] = i
        if isinstance(node, StockNode):
            if node.initial_on_hand > node.storage_capacity:
                raise ConfigError(
                    f"nodes[{i}].initial_on_hand: {node.initial_on_hand:g} is more than "
                    f"storage_capacity {node.storage_capacity:g}"
                )
            if node.demand is not None and node.penalty is None:
                raise ConfigError(
                    f"nodes[{i}].penalty: demand node {node.name!r} with unmet={node.unmet!r} "
                    "needs a penalty"
                )
            if node.demand is None and node.penalty is not None:
                raise ConfigError(
                    f"nodes[{i}].penalty: {node.penalty:g} on node {node.name!r}, which has "
                    "no demand (give it demand, or drop the penalty)"
                )
    kind_of = {n.name: n.kind for n in spec.nodes}
    for path, lane in spec.all_lanes:
        for end in ("source", "destination"):
            name = getattr(lane, end)
            if name not in names:
                close = difflib.get_close_matches(name, list(names), n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; nodes: {list(names)}"
                raise ConfigError(f"{path}.{end}: unknown node {name!r}{hint}")
        if lane.source == lane.destination:
            raise ConfigError(f"{path}: a lane from {lane.source!r} to itself")
        if kind_of[lane.destination] == "supplier":
            raise ConfigError(f"{path}.destination: {lane.destination!r} is a supplier")
        if lane.kind == "transfer" and kind_of[lane.source] == "supplier":
            raise ConfigError(f"{path}.source: a transfer lane cannot start at a supplier")
    replenish = [(e.source, e.destination) for _, e in spec.all_lanes if e.kind != "transfer"]
    _check_acyclic(list(names), replenish)
    _check_zones(spec, names, kind_of)
    _check_supplied(spec)
    demand = [n.demand for n in spec.nodes if getattr(n, "demand", None)]
    demand += [z.demand for z in spec.zones]
    if not demand:
        raise ConfigError("nodes: no node or zone has customer demand")
    periods = [d.seasonality.cycle for d in demand if d.seasonality]
    joint = math.lcm(*periods) if periods else 1
    if joint > MAX_SEASON_PERIOD:
        raise ConfigError(
            f"nodes: the joint season cycle lcm{tuple(periods)} = {joint} periods is longer "
            f"than {MAX_SEASON_PERIOD} (use periods with a common multiple)"
        )


def _check_zones(spec: NetworkSpec, names: dict[str, int], kind_of: dict[str, str]) -> None:
    """Zone names are new; every fulfilment lane starts at a known node, once per zone;
    every zone can be served from some stock node's shelf."""
    seen: set[str] = set()
    for i, zone in enumerate(spec.zones):
        if zone.name in names or zone.name in seen:
            raise ConfigError(f"zones[{i}].name: duplicate name {zone.name!r}")
        seen.add(zone.name)
        sources = [lane.source for lane in zone.fulfilment]
        for j, name in enumerate(sources):
            if name not in names:
                close = difflib.get_close_matches(name, list(names), n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; nodes: {list(names)}"
                raise ConfigError(f"zones[{i}].fulfilment[{j}].source: unknown node {name!r}{hint}")
            if name in sources[:j]:
                raise ConfigError(
                    f"zones[{i}].fulfilment[{j}].source: {name!r} is listed twice for zone "
                    f"{zone.name!r}"
                )
        if all(kind_of[name] == "supplier" for name in sources):
            raise ConfigError(
                f"zones[{i}].fulfilment: zone {zone.name!r} has no stock node among its "
                f"sources {sources} (pure drop-ship zones are not supported: add a stock node)"
            )


def _check_acyclic(names: list[str], lanes: list[tuple[str, str]]) -> None:
    """Reject cycles of replenishment lanes (Kahn's algorithm)."""
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for s, d in lanes:
        succ[s].append(d)
        indeg[d] += 1
    ready = [n for n in names if indeg[n] == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if seen < len(names):
        cyclic = [n for n in names if indeg[n] > 0]
        raise ConfigError(f"lanes: replenishment lanes form a cycle through nodes {cyclic}")


def supplied_nodes(spec: NetworkSpec, through: set[str] | None = None) -> set[str]:
    """The suppliers and the nodes they reach by lanes of any kind; with ``through``, only
    by paths whose stock nodes are all in it (a SKU's holding nodes, ``envs.skus``)."""
    reached = {n.name for n in spec.nodes if n.kind == "supplier"}
    grew = True
    while grew:
        grew = False
        for _, lane in spec.all_lanes:
            d = lane.destination
            if lane.source in reached and d not in reached and (through is None or d in through):
                reached.add(d)
                grew = True
    return reached


def _check_supplied(spec: NetworkSpec) -> None:
    """Every demand node is reached from a supplier by replenishment and transfer lanes
    (otherwise its stock can never be replenished)."""
    reached = supplied_nodes(spec)
    for i, node in enumerate(spec.nodes):
        if getattr(node, "demand", None) is not None and node.name not in reached:
            raise ConfigError(
                f"nodes[{i}]: demand node {node.name!r} has no path of lanes from a supplier"
            )
    for i, zone in enumerate(spec.zones):
        if not any(lane.source in reached for lane in zone.fulfilment):
            raise ConfigError(
                f"zones[{i}].fulfilment: no source of zone {zone.name!r} has a path of lanes "
                "from a supplier"
            )
