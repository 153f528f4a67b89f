"""The layering docs/architecture.md describes: envs -> baselines -> agents -> experiments,
no import running back up (a module may import its own layer and the layers below)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["envs", "baselines", "agents", "experiments"]


def imported_packages(file: Path) -> set[str]:
    tree = ast.parse(file.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def test_no_import_runs_back_up_the_layers():
    violations = []
    for rank, layer in enumerate(LAYERS):
        above = set(LAYERS[rank + 1 :])
        for file in sorted((ROOT / layer).glob("*.py")):
            bad = imported_packages(file) & above
            if bad:
                violations.append(f"{file.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, violations


def test_the_architecture_document_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = [
        f"{layer}/{file.name}"
        for layer in LAYERS
        for file in sorted((ROOT / layer).glob("*.py"))
        if file.name != "__init__.py" and f"{layer}/{file.name}" not in doc
    ]
    assert not missing, f"docs/architecture.md does not mention {missing}"
