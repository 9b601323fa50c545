"""Check a built eksguard layer: wheels fit python3.13 on x86_64 Lambda and match the pins.

Usage: python scripts/check_layer.py .aws-sam/build/EksguardLayer
Exits non-zero with one line per problem.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "eksguard" / "requirements.txt"
ALLOWED_PY_TAGS = {"py3", "py2.py3", "cp313", "py313"}
ALLOWED_ABI = {"none", "abi3", "cp313"}
PLATFORM_OK = re.compile(r"^(any|manylinux.*_x86_64|linux_x86_64)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    result: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)$", line)
        if not match:
            raise SystemExit(f"unpinned requirement in {REQUIREMENTS}: {line!r}")
        result[normalise(match[1])] = match[3]
    return result


def fits(tag: str) -> bool:
    """A wheel fits when one of its tags (py-abi-platform) runs on CPython 3.13 x86_64 Linux."""
    py, abi, platform = tag.split("-", 2)
    return py in ALLOWED_PY_TAGS and abi in ALLOWED_ABI and bool(PLATFORM_OK.match(platform))


def check(layer_dir: Path) -> list[str]:
    problems: list[str] = []
    site = layer_dir / "python"
    if not site.is_dir():
        return [f"{site} does not exist: run sam build first"]
    if not (site / "eksguard" / "__init__.py").is_file():
        problems.append("eksguard package missing from the layer")
    installed: dict[str, str] = {}
    for dist in site.glob("*.dist-info"):
        meta = (dist / "METADATA").read_text(errors="replace")
        name_match = re.search(r"^Name: (.+)$", meta, re.M)
        version_match = re.search(r"^Version: (.+)$", meta, re.M)
        if name_match and version_match:
            installed[normalise(name_match[1].strip())] = version_match[1].strip()
        wheel = dist / "WHEEL"
        if wheel.is_file():
            tags = [t.strip() for t in re.findall(r"^Tag: (.+)$", wheel.read_text(), re.M)]
            if not any(fits(tag) for tag in tags):
                problems.append(f"{dist.name}: wheel tags {', '.join(tags)} do not fit cp313 x86_64 Lambda")
    for pinned_name, pinned_version in pins().items():
        if installed.get(pinned_name) != pinned_version:
            found = installed.get(pinned_name, "nothing")
            problems.append(f"{pinned_name}: pinned {pinned_version}, layer has {found}")
    for extension in site.rglob("*.so"):
        if "cpython-313-x86_64-linux-gnu" not in extension.name and ".abi3." not in extension.name:
            problems.append(f"{extension.relative_to(site)}: compiled for another interpreter")
    return problems


def main() -> int:
    layer_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build/EksguardLayer")
    problems = check(layer_dir)
    for problem in problems:
        print(f"layer check: {problem}")
    if problems:
        return 1
    extensions = sorted(p.name for p in (layer_dir / "python").rglob("*.so"))
    print(f"layer check: ok ({len(pins())} pinned packages, native extensions: {', '.join(extensions) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
