"""Every dependency is pinned, and the layer ships the versions the tests run with."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "requirements-dev.txt", ROOT / "requirements-sam.txt", ROOT / "layers/eksguard/requirements.txt"]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[[^\]]*\])?==(?P<version>[^\s;]+)$")


def requirements(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not pinned to an exact version"
        pins[re.sub(r"[-_.]+", "-", match["name"]).lower()] = match["version"]
    return pins


def test_every_requirement_is_pinned():
    for path in FILES:
        assert requirements(path), path


def test_layer_ships_the_tested_versions():
    dev = requirements(ROOT / "requirements-dev.txt")
    layer = requirements(ROOT / "layers/eksguard/requirements.txt")
    for name, version in layer.items():
        assert dev.get(name) == version, f"{name}: layer {version}, tests {dev.get(name)}"
