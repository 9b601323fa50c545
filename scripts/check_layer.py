"""Check a built eksguard layer: wheels fit python3.13 on x86_64 Lambda and are exactly the lock.

Usage: python scripts/check_layer.py .aws-sam/build/EksguardLayer [FUNCTION_ARTEFACT_DIR ...]
Every *.dist-info in the layer must be in layers/eksguard/requirements.lock at the same version and every
locked distribution in the layer; the direct pins of requirements.txt hold; native extensions are built for
CPython 3.13; bytecode, where there is any, is CPython 3.13's (function folders get this last check only).
Exits non-zero with one line per problem; a layer without bytecode is reported, not failed.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "eksguard" / "requirements.txt"
LOCK = ROOT / "layers" / "eksguard" / "requirements.lock"
ALLOWED_PY_TAGS = {"py3", "py2.py3", "cp313", "py313"}
ALLOWED_ABI = {"none", "abi3", "cp313"}
PLATFORM_OK = re.compile(r"^(any|manylinux.*_x86_64|linux_x86_64)$")
# importlib.util.MAGIC_NUMBER of CPython 3.13 (3571), read once with python3.13; fixed for every 3.13.x
# release. A .pyc starting otherwise was written by another interpreter and Lambda would ignore it.
MAGIC_313 = b"\xf3\r\r\n"
CACHE_TAG = "cpython-313"
PYC_NAME = re.compile(r"^(?P<module>[^.]+)\.(?P<tag>[^.]+)(?P<opt>\.opt-\d+)?\.pyc$")
# The pyc header's flags word (PEP 552): bit 0 hash-based, bit 1 check the source.
PYC_MODES = {0: "timestamp", 1: "unchecked-hash", 3: "checked-hash"}
NO_BYTECODE_HINT = (
    "every cold start compiles it from source; build with a CPython 3.13 (set LAMBDA_PYTHON or install python3.13)"
)


@dataclass
class Result:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)$", line)
        if not match:
            raise SystemExit(f"unpinned requirement in {requirements}: {line!r}")
        result[normalise(match[1])] = match[3]
    return result


def locked(lock: Path = LOCK) -> dict[str, str]:
    """Versions by normalised name from requirements.lock (`name==version --hash=sha256:...` lines)."""
    result: dict[str, str] = {}
    for line in lock.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:[0-9a-f]{64}", line)
        if not match:
            raise SystemExit(f"{lock}: {line!r} is not `name==version --hash=sha256:...`")
        result[normalise(match[1])] = match[2]
    return result


def fits(tag: str) -> bool:
    """A wheel fits when one of its tags (py-abi-platform) runs on CPython 3.13 x86_64 Linux: pure Python,
    cp313, or the stable ABI of any earlier CPython 3 (cp39-abi3 runs on 3.13)."""
    py, abi, platform = tag.split("-", 2)
    if not PLATFORM_OK.match(platform):
        return False
    stable = re.fullmatch(r"cp3(\d+)", py)
    if abi == "abi3" and stable and int(stable[1]) <= 13:
        return True
    return py in ALLOWED_PY_TAGS and abi in ALLOWED_ABI


# Lambda's python3.13 on x86_64 Linux, for the environment markers of Requires-Dist.
LAMBDA_MARKERS = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "implementation_version": "3.13.0",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "sys_platform": "linux",
    "os_name": "posix",
}


def requested_extras(requirements: Path) -> dict[str, set[str]]:
    """Extras requirements.txt asks for, by distribution: `aws-lambda-powertools[tracer]`."""
    extras: dict[str, set[str]] = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\[([^\]]*)\]", line.split("#", 1)[0])
        if match:
            extras.setdefault(normalise(match[1]), set()).update(e.strip() for e in match[2].split(",") if e.strip())
    return extras


def unmet_dependencies(site: Path, installed: dict[str, str], requirements: Path) -> list[str]:
    """Every Requires-Dist of every distribution in the layer (for Lambda's markers and the extras asked
    for) is installed at a version it accepts. The layer installs its lock with --no-deps, so this is
    what proves the lock is the whole closure."""
    from packaging.requirements import InvalidRequirement, Requirement

    wanted = requested_extras(requirements)
    requires: dict[str, list[Requirement]] = {}
    problems: list[str] = []
    for dist in sorted(site.glob("*.dist-info")):
        metadata = dist / "METADATA"
        meta = metadata.read_text(errors="replace") if metadata.is_file() else ""
        name_match = re.search(r"^Name: (.+)$", meta, re.M)
        if not name_match:
            continue
        name = normalise(name_match[1].strip())
        for line in re.findall(r"^Requires-Dist: (.+)$", meta, re.M):
            try:
                requires.setdefault(name, []).append(Requirement(line.strip()))
            except InvalidRequirement:
                problems.append(f"{name}: unreadable Requires-Dist {line.strip()!r}")
    # Extras one distribution asks of another count too (transitively), until nothing new is asked.
    for _ in range(len(requires) + 1):
        grown = False
        for name, reqs in requires.items():
            for extra in [""] + sorted(wanted.get(name, ())):
                for req in reqs:
                    if req.marker is None or req.marker.evaluate({**LAMBDA_MARKERS, "extra": extra}):
                        target = wanted.setdefault(normalise(req.name), set())
                        if not req.extras <= target:
                            target.update(req.extras)
                            grown = True
        if not grown:
            break
    for name, reqs in sorted(requires.items()):
        for extra in [""] + sorted(wanted.get(name, ())):
            for req in reqs:
                if req.marker is not None and not req.marker.evaluate({**LAMBDA_MARKERS, "extra": extra}):
                    continue
                have = installed.get(normalise(req.name))
                if have is None:
                    problems.append(f"{name} requires {req}, which the layer lacks")
                elif not req.specifier.contains(have, prereleases=True):
                    problems.append(f"{name} requires {req}, the layer has {have}")
    return sorted(set(problems))


def distributions(site: Path, problems: list[str]) -> dict[str, str]:
    """Every distribution installed in site, by normalised name; wheel tags checked on the way."""
    installed: dict[str, str] = {}
    for egg in sorted(site.glob("*.egg-info")):
        problems.append(f"{egg.name}: not installed from a wheel")
    for dist in sorted(site.glob("*.dist-info")):
        metadata = dist / "METADATA"
        meta = metadata.read_text(errors="replace") if metadata.is_file() else ""
        name_match = re.search(r"^Name: (.+)$", meta, re.M)
        version_match = re.search(r"^Version: (.+)$", meta, re.M)
        if not (name_match and version_match):
            problems.append(f"{dist.name}: no Name and Version in METADATA")
            continue
        name = normalise(name_match[1].strip())
        if name in installed:
            problems.append(f"{name}: installed twice ({installed[name]} and {version_match[1].strip()})")
        installed[name] = version_match[1].strip()
        wheel = dist / "WHEEL"
        if not wheel.is_file():
            problems.append(f"{dist.name}: no WHEEL file, not installed from a wheel")
            continue
        tags = [t.strip() for t in re.findall(r"^Tag: (.+)$", wheel.read_text(), re.M)]
        if not any(fits(tag) for tag in tags):
            problems.append(f"{dist.name}: wheel tags {', '.join(tags) or 'none'} do not fit cp313 x86_64 Lambda")
    return installed


def check_bytecode(root: Path, label: str, result: Result, report: bool = True) -> tuple[int, int]:
    """Bytecode must be CPython 3.13's; how much of the code has some is reported, not enforced.

    Returns how many of root's modules have cpython-313 bytecode, and how many modules there are.
    """
    if not root.is_dir():
        result.problems.append(f"{root} does not exist: run sam build first")
        return 0, 0
    modes: Counter[str] = Counter()
    for pyc in sorted(root.rglob("*.pyc")):
        where = pyc.relative_to(root)
        if pyc.parent.name == "__pycache__":
            name = PYC_NAME.match(pyc.name)
            if name is None or name["tag"] != CACHE_TAG:
                tag = name["tag"] if name else "an unknown interpreter"
                result.problems.append(f"{where}: bytecode for {tag}, Lambda runs {CACHE_TAG}")
                continue
        with pyc.open("rb") as handle:
            header = handle.read(16)
        if len(header) < 16 or header[:4] != MAGIC_313:
            result.problems.append(f"{where}: magic number {header[:4]!r} is not CPython 3.13's {MAGIC_313!r}")
            continue
        modes[PYC_MODES.get(int.from_bytes(header[4:8], "little"), "unknown")] += 1
    sources = sorted(root.rglob("*.py"))
    bare = [py for py in sources if not (py.parent / "__pycache__" / f"{py.stem}.{CACHE_TAG}.pyc").is_file()]
    compiled = len(sources) - len(bare)
    if not sources or not report:
        return compiled, len(sources)
    if compiled == 0:
        result.notes.append(f"no bytecode in {label}: {NO_BYTECODE_HINT}")
        return compiled, len(sources)
    how = ", ".join(f"{count} {mode}" for mode, count in sorted(modes.items()))
    result.notes.append(f"bytecode: {compiled} of {len(sources)} modules in {label} compiled for {CACHE_TAG} ({how})")
    if bare:
        examples = ", ".join(str(py.relative_to(root)) for py in bare[:3])
        result.notes.append(f"{len(bare)} modules in {label} without bytecode, e.g. {examples}")
    return compiled, len(sources)


def check(layer_dir: Path, lock: Path = LOCK, requirements: Path = REQUIREMENTS) -> Result:
    result = Result()
    problems = result.problems
    site = layer_dir / "python"
    if not site.is_dir():
        problems.append(f"{site} does not exist: run sam build first")
        return result
    if not (site / "eksguard" / "__init__.py").is_file():
        problems.append("eksguard package missing from the layer")
    installed = distributions(site, problems)
    if not lock.is_file():
        problems.append(f"{lock} does not exist: run `make lock`")
    expected = locked(lock) if lock.is_file() else {}
    for name, version in sorted(installed.items()):
        if name not in expected and lock.is_file():
            problems.append(f"{name} {version}: in the layer but not in requirements.lock")
        elif name in expected and expected[name] != version:
            problems.append(f"{name}: requirements.lock has {expected[name]}, layer has {version}")
    for name, version in sorted(expected.items()):
        if name not in installed:
            problems.append(f"{name} {version}: in requirements.lock, missing from the layer")
    for pinned_name, pinned_version in pins(requirements).items():
        if installed.get(pinned_name) != pinned_version:
            found = installed.get(pinned_name, "nothing")
            problems.append(f"{pinned_name}: pinned {pinned_version}, layer has {found}")
    problems.extend(unmet_dependencies(site, installed, requirements))
    for extension in sorted(site.rglob("*.so")):
        if "cpython-313-x86_64-linux-gnu" not in extension.name and ".abi3." not in extension.name:
            problems.append(f"{extension.relative_to(site)}: compiled for another interpreter")
    check_bytecode(site, "the layer", result)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    layer_dir = Path(args[0] if args else ".aws-sam/build/EksguardLayer")
    result = check(layer_dir)
    functions = {Path(arg).name: check_bytecode(Path(arg), Path(arg).name, result, report=False) for arg in args[1:]}
    bare = sorted(name for name, (compiled, total) in functions.items() if compiled < total)
    if functions and not bare:
        result.notes.append(f"bytecode: every module of {len(functions)} functions compiled for {CACHE_TAG}")
    elif bare:
        result.notes.append(f"modules without bytecode in {', '.join(bare)}: {NO_BYTECODE_HINT}")
    for note in result.notes:
        print(f"layer check: {note}")
    for problem in result.problems:
        print(f"layer check: {problem}")
    if result.problems:
        return 1
    extensions = sorted(p.name for p in (layer_dir / "python").rglob("*.so"))
    print(
        f"layer check: ok ({len(locked())} locked distributions, {len(pins())} pinned directly; "
        f"native extensions: {', '.join(extensions) or 'none'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
