"""README's table of network config keys is the one generated from the schema."""

from envs.schema_table import README, markdown, readme_section, rows


def test_readme_table_matches_the_schema():
    assert readme_section(README.read_text()) == markdown(), (
        "README's network key table is out of date: run `python -m envs.schema_table --write`"
    )


def test_every_key_has_a_type_default_and_meaning():
    keys = {r[0] for r in rows()}
    for key in ("nodes[].holding_cost", "lanes[].lead_time.probs", "demand_correlation"):
        assert f"`{key}`" in keys
    for key, _, kind, default, meaning in rows():
        assert kind and default and meaning, key
