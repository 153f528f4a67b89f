"""The README's table of network config keys, generated from the schema (envs.schema).

    python -m envs.schema_table          # print the table
    python -m envs.schema_table --write  # replace it in README.md

``tests/test_schema_table.py`` fails when README.md and the schema drift apart.
"""

from __future__ import annotations

import math
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from envs import schema as s

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- network-keys:start -->", "<!-- network-keys:end -->"

# (key prefix, model, where it applies, keys shown or None for all), in reading order.
SECTIONS: list[tuple[str, type[BaseModel], str, tuple[str, ...] | None]] = [
    ("", s.NetworkSpec, "network", None),
    ("nodes[].", s.SupplierNode, "`kind: supplier`", None),
    ("nodes[].", s.StockNode, "`kind: stock`", None),
    ("nodes[].disruption.", s.DisruptionSpec, "any node", None),
    ("nodes[].demand.", s.PoissonDemand, "`poisson`", None),
    ("nodes[].demand.", s.NormalDemand, "`normal`", None),
    ("nodes[].demand.", s.NegativeBinomialDemand, "`negative_binomial`", None),
    ("nodes[].demand.", s.DeterministicDemand, "`deterministic`", None),
    ("nodes[].demand.seasonality.", s.SeasonalitySpec, "any demand", None),
    ("nodes[].demand.seasonality.promotions[].", s.PromotionSpec, "a promotion", None),
    ("lanes[].", s.LaneSpec, "`lanes`", None),
    (
        "transfer_lanes[].",
        s.TransferLaneSpec,
        "`transfer_lanes`, other keys as `lanes[]`",
        ("kind",),
    ),
    ("lanes[].lead_time.", s.LeadTimeDistributionSpec, "a distribution", None),
    ("lanes[].lead_time.", s.LeadTimeValueSpec, "a fixed lead time as a mapping", None),
    ("lanes[].disruption.", s.DisruptionSpec, "any lane", None),
    ("nodes[].disruption.outages[].", s.OutageSpec, "any node or lane", None),
    ("zones[].", s.ZoneSpec, "`zones` (demand as `nodes[].demand`)", None),
    ("zones[].fulfilment[].", s.FulfilmentLaneSpec, "a zone's lanes", None),
    ("skus[].", s.SkuSpec, "`skus` (several SKUs, `envs.skus`)", None),
]

# Discriminated unions, named by the field their tag is read from.
UNIONS = {
    "kind": "mapping: a supplier or stock node (by `kind`)",
    "dist": "mapping (by `dist`)",
    "lead_time": f"int (0 to {s.MAX_LEAD_TIME}), `{{value: L}}` or `{{support, probs}}`",
    "demand_correlation": "number in [-1, 1] or D x D matrix",
}


def _flat(meta: list[Any]) -> list[Any]:
    out = []
    for m in meta:
        out += _flat(list(m.metadata)) if isinstance(m, FieldInfo) else [m]
    return out


def _bounds(meta: list[Any]) -> str:
    out = []
    for m in _flat(meta):
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                out.append(f"{sign} {getattr(m, attr):g}")
        if getattr(m, "min_length", None):
            out.append("non-empty" if m.min_length == 1 else f"length >= {m.min_length}")
        func = getattr(m, "func", None)
        if func is s.whole_units:
            out.append("whole")
        if getattr(m, "allow_inf_nan", None) is True:
            out.append("or .inf")
    return (" " + ", ".join(out)) if out else ""


def describe(tp: Any, meta: list[Any] | None = None) -> str:
    """A short human name of a schema type, with its bounds."""
    for m in meta or []:
        if isinstance(m, Discriminator):
            return UNIONS[str(m.custom_error_type).split(":")[1]]
    origin = get_origin(tp)
    if origin is Annotated:
        base, *inner = get_args(tp)
        return describe(base, inner + list(meta or []))
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        text = " or ".join(describe(a) for a in args if a is not type(None))
        return text + (" or null" if type(None) in args else "") + _bounds(meta or [])
    if origin is list:
        return f"list of {describe(get_args(tp)[0])}" + _bounds(meta or [])
    if origin is Literal:
        return " \\| ".join(f"`{v}`" for v in get_args(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    if tp is typing.Any:
        return "any"
    return f"{getattr(tp, '__name__', str(tp))}{_bounds(meta or [])}"


def _default(field: Any) -> str:
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "defaults"
    if isinstance(value, float) and math.isinf(value):
        return "`.inf`"
    if value is None:
        return "none"
    return f"`{value}`"


def rows() -> list[tuple[str, str, str, str, str]]:
    """(key, applies to, type, default, meaning) of every key; keys shared by several
    models with the same type, default and meaning are one row."""
    merged: dict[tuple, list[str]] = {}
    for prefix, model, where, keys in SECTIONS:
        for name, field in model.model_fields.items():
            if keys is not None and name not in keys:
                continue
            text = " ".join((field.description or "").split()).replace("|", "\\|")
            text = text.replace("``", "`")
            key = (
                f"`{prefix}{name}`",
                describe(field.annotation, list(field.metadata)),
                _default(field),
                text,
            )
            merged.setdefault(key, []).append(where)
    return [(k, ", ".join(w), t, d, m) for (k, t, d, m), w in merged.items()]


def markdown() -> str:
    lines = [
        "| key | applies to | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(r)} |" for r in rows()]
    return "\n".join(lines)


def readme_section(text: str) -> str:
    """The generated part of README.md (between its markers)."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def write_readme() -> None:
    text = README.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{START}\n{markdown()}\n{END}{tail}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme()
    else:
        print(markdown())
