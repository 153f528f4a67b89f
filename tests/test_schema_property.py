"""Property: every malformed network config is rejected with one line naming the field.

Hypothesis takes a valid network that uses every kind of mapping (supplier, stock node,
demand with seasonality and a promotion, disruption, lead-time distribution) and breaks
it in one place: an unknown key in any mapping, a value of the wrong type, NaN or
infinity, a negative where it is forbidden, a null or non-mapping where a mapping belongs.
"""

from __future__ import annotations

import copy
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs import schema
from envs.network import build_network
from envs.schema import ConfigError

BASE = {
    "nodes": [
        {
            "name": "s",
            "kind": "supplier",
            "capacity": 100,
            "disruption": {"failure_prob": 0.1, "recovery_prob": 0.5},
        },
        {"name": "w", "holding_cost": 0.5, "storage_capacity": 200, "initial_on_hand": 10},
        {
            "name": "a",
            "holding_cost": 1,
            "demand": {
                "dist": "normal",
                "mean": 5,
                "std": 2,
                "seasonality": {
                    "period": 4,
                    "amplitude": 0.2,
                    "phase": 1,
                    "promotions": [{"start": 1, "end": 3, "lift": 2}],
                },
            },
            "unmet": "lost",
            "penalty": 9,
            "overflow_cost": 0.1,
        },
    ],
    "lanes": [
        {
            "source": "s",
            "destination": "w",
            "lead_time": {"support": [1, 2], "probs": [0.5, 0.5]},
            "unit_cost": 1,
            "fixed_cost": 2,
            "capacity": 50,
            "in_transit_holding": 0.1,
            "max_order": 40,
            "disruption": {"failure_prob": 0.0},
        },
        {"source": "w", "destination": "a", "lead_time": 1},
    ],
    "rationing": "priority",
}

MAPPINGS = [
    (),
    ("nodes", 0),
    ("nodes", 1),
    ("nodes", 2),
    ("nodes", 0, "disruption"),
    ("nodes", 2, "demand"),
    ("nodes", 2, "demand", "seasonality"),
    ("nodes", 2, "demand", "seasonality", "promotions", 0),
    ("lanes", 0),
    ("lanes", 1),
    ("lanes", 0, "lead_time"),
    ("lanes", 0, "disruption"),
]
# Numeric fields: (path, may be negative, may be infinite).
NUMBERS = [
    (("nodes", 0, "capacity"), False, True),
    (("nodes", 0, "disruption", "failure_prob"), False, False),
    (("nodes", 0, "disruption", "recovery_prob"), False, False),
    (("nodes", 1, "holding_cost"), False, False),
    (("nodes", 1, "storage_capacity"), False, True),
    (("nodes", 1, "initial_on_hand"), False, False),
    (("nodes", 2, "holding_cost"), False, False),
    (("nodes", 2, "penalty"), False, False),
    (("nodes", 2, "overflow_cost"), False, False),
    (("nodes", 2, "demand", "mean"), False, False),
    (("nodes", 2, "demand", "std"), False, False),
    (("nodes", 2, "demand", "seasonality", "period"), False, False),
    (("nodes", 2, "demand", "seasonality", "amplitude"), False, False),
    (("nodes", 2, "demand", "seasonality", "phase"), True, False),
    (("nodes", 2, "demand", "seasonality", "promotions", 0, "start"), False, False),
    (("nodes", 2, "demand", "seasonality", "promotions", 0, "end"), False, False),
    (("nodes", 2, "demand", "seasonality", "promotions", 0, "lift"), False, False),
    (("lanes", 0, "lead_time", "support", 0), False, False),
    (("lanes", 0, "lead_time", "probs", 0), False, False),
    (("lanes", 0, "unit_cost"), False, False),
    (("lanes", 0, "fixed_cost"), False, False),
    (("lanes", 0, "capacity"), False, True),
    (("lanes", 0, "in_transit_holding"), False, False),
    (("lanes", 0, "max_order"), False, False),
    (("lanes", 0, "disruption", "failure_prob"), False, False),
    (("lanes", 1, "lead_time"), False, False),
]


def path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def at(cfg: dict, path: tuple):
    for part in path:
        cfg = cfg[part]
    return cfg


def put(cfg: dict, path: tuple, value) -> None:
    at(cfg, path[:-1])[path[-1]] = value


def _schema_models(model: type) -> list[type]:
    return [model] + [m for sub in model.__subclasses__() for m in _schema_models(sub)]


# Every key some mapping of the schema accepts. A generated "unknown" key must be none of
# them: hypothesis mines string constants from the code under test, so it does propose
# real field names (``unit_cost`` on a lane that leaves it at its default).
KNOWN_KEYS = frozenset(
    name
    for model in _schema_models(schema.StrictModel)
    for field_name, field in model.model_fields.items()
    for name in (field_name, field.alias)
    if name
)


@st.composite
def unknown_key(draw):
    cfg = copy.deepcopy(BASE)
    where = draw(st.sampled_from(MAPPINGS))
    mapping = at(cfg, where)
    key = draw(
        st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
            lambda k: k not in mapping and k not in KNOWN_KEYS
        )
    )
    mapping[key] = draw(st.integers(0, 5))
    return cfg, path_text((*where, key)), "unknown key"


@st.composite
def bad_value(draw):
    cfg = copy.deepcopy(BASE)
    path, negative_ok, inf_ok = draw(st.sampled_from(NUMBERS))
    kinds = ["string", "list", "bool", "nan"] + ([] if inf_ok else ["inf"])
    kinds += [] if path[-1] == "max_order" else ["null"]  # null max_order: the default
    kinds += [] if negative_ok else ["negative"]
    kind = draw(st.sampled_from(kinds))
    value = {
        "string": draw(st.text(min_size=1, max_size=6)),
        "list": [1],
        "bool": draw(st.booleans()),
        "nan": math.nan,
        "null": None,
        "inf": draw(st.sampled_from([math.inf, -math.inf])),
        "negative": -draw(st.floats(0.5, 1e6)),
    }[kind]
    put(cfg, path, value)
    return cfg, path_text(path), None if value is None else repr(value)[:20]


@st.composite
def not_a_mapping(draw):
    cfg = copy.deepcopy(BASE)
    where = draw(st.sampled_from([m for m in MAPPINGS if m and m != ("lanes", 0, "lead_time")]))
    value = draw(st.sampled_from([None, [1, 2], "text", 3.5]))
    if value is None and where[-1] in ("seasonality", "disruption", "demand"):
        value = [1, 2]  # null is the legitimate "none" of these optional mappings
    put(cfg, where, value)
    return cfg, path_text(where), repr(value)[:20]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(unknown_key(), bad_value(), not_a_mapping()))
def test_every_malformed_config_is_rejected_naming_the_field(case):
    cfg, field, shown = case
    try:
        build_network(cfg)
    except ConfigError as err:
        message = str(err)
    else:
        raise AssertionError(f"accepted a malformed config at {field}")
    assert "\n" not in message
    assert message.startswith(field), (field, message)
    if shown:
        assert shown in message, (shown, message)


def test_the_base_config_is_valid():
    assert build_network(copy.deepcopy(BASE)).num_nodes == 3
