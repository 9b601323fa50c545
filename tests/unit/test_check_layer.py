"""scripts/check_layer.py against small fake layers: the layer must be exactly the lock, for cp313 x86_64."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import check_layer
from tests.unit.test_pins import ROOT

LOCKED = {"boto3": "1.44.8", "botocore": "1.44.18", "PyYAML": "6.0.4"}
REQUIREMENTS = "boto3==1.44.8\nPyYAML==6.0.4\n"
UNIVERSAL = "py3-none-any"
COMPILE_BYTECODE = ROOT / "scripts" / "compile_bytecode.sh"


def write_lock(tmp_path: Path, versions: dict[str, str]) -> tuple[Path, Path]:
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# regenerate with `make lock`\n"
        + "".join(f"{check_layer.normalise(n)}=={v} --hash=sha256:{'0' * 64}\n" for n, v in versions.items())
    )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    return lock, requirements


def add_dist(site: Path, name: str, version: str, tag: str = UNIVERSAL) -> None:
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n")


def fake_layer(tmp_path: Path, versions: dict[str, str] = LOCKED) -> Path:
    layer = tmp_path / "EksguardLayer"
    site = layer / "python"
    (site / "eksguard").mkdir(parents=True)
    (site / "eksguard" / "__init__.py").write_text('"""eksguard."""\n')
    for name, version in versions.items():
        add_dist(site, name, version)
    return layer


def run_check(tmp_path: Path, layer: Path) -> check_layer.Result:
    lock, requirements = write_lock(tmp_path, LOCKED)
    return check_layer.check(layer, lock=lock, requirements=requirements)


def pyc(path: Path, magic: bytes = check_layer.MAGIC_313, flags: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(magic + flags.to_bytes(4, "little") + b"\0" * 8 + b"code")


def test_a_layer_matching_the_lock_passes(tmp_path):
    result = run_check(tmp_path, fake_layer(tmp_path))
    assert result.problems == []


def test_a_distribution_the_lock_lacks_fails(tmp_path):
    layer = fake_layer(tmp_path)
    add_dist(layer / "python", "zipp", "3.20.0")
    assert run_check(tmp_path, layer).problems == ["zipp 3.20.0: in the layer but not in requirements.lock"]


def test_a_locked_distribution_missing_from_the_layer_fails(tmp_path):
    layer = fake_layer(tmp_path, {"boto3": "1.44.8", "PyYAML": "6.0.4"})
    assert run_check(tmp_path, layer).problems == ["botocore 1.44.18: in requirements.lock, missing from the layer"]


def test_a_transitive_distribution_at_another_version_fails(tmp_path):
    layer = fake_layer(tmp_path, {**LOCKED, "botocore": "1.44.19"})
    assert run_check(tmp_path, layer).problems == ["botocore: requirements.lock has 1.44.18, layer has 1.44.19"]


def test_a_direct_pin_at_another_version_fails_against_both_files(tmp_path):
    layer = fake_layer(tmp_path, {**LOCKED, "boto3": "1.44.9"})
    assert run_check(tmp_path, layer).problems == [
        "boto3: requirements.lock has 1.44.8, layer has 1.44.9",
        "boto3: pinned 1.44.8, layer has 1.44.9",
    ]


@pytest.mark.parametrize(
    "tag",
    ["cp313-cp313-manylinux_2_17_aarch64", "cp311-cp311-manylinux_2_17_x86_64", "cp313-cp313-macosx_11_0_arm64"],
)
def test_a_wheel_for_another_platform_or_interpreter_fails(tmp_path, tag):
    layer = fake_layer(tmp_path, {k: v for k, v in LOCKED.items() if k != "PyYAML"})
    add_dist(layer / "python", "PyYAML", "6.0.4", tag=tag)
    assert run_check(tmp_path, layer).problems == [
        f"PyYAML-6.0.4.dist-info: wheel tags {tag} do not fit cp313 x86_64 Lambda"
    ]


def test_a_distribution_without_metadata_or_wheel_fails(tmp_path):
    layer = fake_layer(tmp_path)
    (layer / "python" / "mystery-1.0.dist-info").mkdir()
    (layer / "python" / "PyYAML-6.0.4.dist-info" / "WHEEL").unlink()
    (layer / "python" / "legacy-1.0.egg-info").mkdir()
    assert run_check(tmp_path, layer).problems == [
        "legacy-1.0.egg-info: not installed from a wheel",
        "PyYAML-6.0.4.dist-info: no WHEEL file, not installed from a wheel",
        "mystery-1.0.dist-info: no Name and Version in METADATA",
    ]


def test_an_extension_for_another_interpreter_fails(tmp_path):
    layer = fake_layer(tmp_path)
    (layer / "python" / "_yaml.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (layer / "python" / "_ok.cpython-313-x86_64-linux-gnu.so").write_bytes(b"")
    assert run_check(tmp_path, layer).problems == [
        "_yaml.cpython-311-x86_64-linux-gnu.so: compiled for another interpreter"
    ]


def test_a_missing_lock_fails(tmp_path):
    layer = fake_layer(tmp_path)
    _, requirements = write_lock(tmp_path, LOCKED)
    result = check_layer.check(layer, lock=tmp_path / "absent.lock", requirements=requirements)
    assert any("absent.lock does not exist: run `make lock`" in problem for problem in result.problems)


def test_bytecode_for_python313_is_counted(tmp_path):
    layer = fake_layer(tmp_path)
    site = layer / "python"
    (site / "eksguard" / "rules.py").write_text("RULES = ()\n")
    pyc(site / "eksguard" / "__pycache__" / "__init__.cpython-313.pyc")
    pyc(site / "eksguard" / "__pycache__" / "rules.cpython-313.pyc")
    result = run_check(tmp_path, layer)
    assert result.problems == []
    assert "bytecode: 2 of 2 modules in the layer compiled for cpython-313 (2 unchecked-hash)" in result.notes


def test_absent_bytecode_is_reported_not_failed(tmp_path):
    result = run_check(tmp_path, fake_layer(tmp_path))
    assert result.problems == []
    assert any(note.startswith("no bytecode in the layer") and "LAMBDA_PYTHON" in note for note in result.notes)


def test_bytecode_of_another_interpreter_fails(tmp_path):
    layer = fake_layer(tmp_path)
    pyc(layer / "python" / "eksguard" / "__pycache__" / "__init__.cpython-311.pyc", magic=b"\xa7\r\r\n")
    assert run_check(tmp_path, layer).problems == [
        "eksguard/__pycache__/__init__.cpython-311.pyc: bytecode for cpython-311, Lambda runs cpython-313"
    ]


def test_bytecode_with_another_magic_number_fails(tmp_path):
    layer = fake_layer(tmp_path)
    pyc(layer / "python" / "eksguard" / "__pycache__" / "__init__.cpython-313.pyc", magic=b"\xa7\r\r\n")
    (layer / "python" / "six.pyc").write_bytes(b"\xa7\r")
    assert run_check(tmp_path, layer).problems == [
        "eksguard/__pycache__/__init__.cpython-313.pyc: magic number b'\\xa7\\r\\r\\n' is not CPython 3.13's "
        "b'\\xf3\\r\\r\\n'",
        "six.pyc: magic number b'\\xa7\\r' is not CPython 3.13's b'\\xf3\\r\\r\\n'",
    ]


def test_function_folders_get_the_bytecode_checks(tmp_path, capsys):
    layer = fake_layer(tmp_path)
    lock, requirements = write_lock(tmp_path, LOCKED)
    function = tmp_path / "StopInstancesFunction"
    (function / "stop_instances_handler.py").parent.mkdir()
    (function / "stop_instances_handler.py").write_text("")
    pyc(function / "__pycache__" / "stop_instances_handler.cpython-312.pyc")
    result = check_layer.check(layer, lock=lock, requirements=requirements)
    check_layer.check_bytecode(function, function.name, result)
    assert result.problems == [
        "__pycache__/stop_instances_handler.cpython-312.pyc: bytecode for cpython-312, Lambda runs cpython-313"
    ]


def test_the_real_lock_parses():
    assert check_layer.locked()["boto3"] == check_layer.pins()["boto3"]


def python313() -> str | None:
    """The interpreter compile_bytecode.sh would pick, for the tests that need one."""
    candidates = [os.environ.get("LAMBDA_PYTHON") or "", shutil.which("python3.13") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += [str(path) for path in sorted(pyenv.glob("3.13*/bin/python3.13"))]
    for candidate in filter(None, candidates):
        probe = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_the_hard_coded_magic_is_python313s():
    interpreter = python313()
    if interpreter is None:
        pytest.skip("no CPython 3.13 on this machine")
    magic = subprocess.run(
        [interpreter, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert bytes.fromhex(magic) == check_layer.MAGIC_313


def test_compile_bytecode_compiles_for_python313_and_drops_stale_bytecode(tmp_path):
    interpreter = python313()
    if interpreter is None:
        pytest.skip("no CPython 3.13 on this machine")
    layer = fake_layer(tmp_path)
    site = layer / "python"
    pyc(site / "eksguard" / "__pycache__" / "__init__.cpython-311.pyc", magic=b"\xa7\r\r\n")
    env = {**os.environ, "LAMBDA_PYTHON": interpreter}
    subprocess.run(["sh", str(COMPILE_BYTECODE), str(site), "/opt/python"], env=env, check=True, capture_output=True)
    assert sorted(p.name for p in site.rglob("*.pyc")) == ["__init__.cpython-313.pyc"]
    result = run_check(tmp_path, layer)
    assert result.problems == []
    assert "bytecode: 1 of 1 modules in the layer compiled for cpython-313 (1 unchecked-hash)" in result.notes


def test_compile_bytecode_warns_and_succeeds_without_python313(tmp_path):
    bare_path = "/usr/bin:/bin"
    if shutil.which("python3.13", path=bare_path):
        pytest.skip("a python3.13 lies on the bare PATH of this machine")
    layer = fake_layer(tmp_path)
    site = layer / "python"
    pyc(site / "eksguard" / "__pycache__" / "__init__.cpython-311.pyc", magic=b"\xa7\r\r\n")
    env = {"PATH": bare_path, "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    done = subprocess.run(
        ["sh", str(COMPILE_BYTECODE), str(site), "/opt/python"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("WARNING: no CPython 3.13 found")
    assert "LAMBDA_PYTHON" in done.stdout
    assert not list(site.rglob("*.pyc"))


def test_compile_bytecode_refuses_a_lambda_python_of_another_version(tmp_path):
    if sys.version_info[:2] == (3, 13):
        pytest.skip("the tests run on CPython 3.13")
    site = fake_layer(tmp_path) / "python"
    env = {**os.environ, "LAMBDA_PYTHON": sys.executable}
    done = subprocess.run(
        ["sh", str(COMPILE_BYTECODE), str(site), "/opt/python"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "is not a CPython 3.13 interpreter" in done.stderr


def requires(layer: Path, name: str, version: str, *lines: str) -> None:
    metadata = next((layer / "python").glob(f"{name.replace('-', '_')}-{version}.dist-info")) / "METADATA"
    metadata.write_text(metadata.read_text() + "".join(f"Requires-Dist: {line}\n" for line in lines))


def test_a_dependency_missing_from_the_lock_and_the_layer_fails(tmp_path):
    """The layer installs the lock with --no-deps: a lock missing a dependency would ship a broken layer."""
    layer = fake_layer(tmp_path)
    requires(
        layer, "botocore", "1.44.18", "jmespath<2.0.0,>=0.7.1", "urllib3!=2.2.0,<3,>=1.25.4; python_version >= '3.10'"
    )
    problems = run_check(tmp_path, layer).problems
    assert "botocore requires jmespath<2.0.0,>=0.7.1, which the layer lacks" in problems
    assert any(p.startswith("botocore requires urllib3") for p in problems)


def test_a_dependency_at_a_version_it_does_not_accept_fails(tmp_path):
    layer = fake_layer(tmp_path)
    requires(layer, "boto3", "1.44.8", "botocore<1.45.0,>=1.44.20")
    assert "boto3 requires botocore<1.45.0,>=1.44.20, the layer has 1.44.18" in run_check(tmp_path, layer).problems


def test_markers_are_read_for_lambda_and_extras_only_when_asked(tmp_path):
    layer = fake_layer(tmp_path)
    requires(
        layer,
        "boto3",
        "1.44.8",
        "six; python_version < '3.8'",
        "pywin32; sys_platform == 'win32'",
        "awscrt==0.1; extra == 'crt'",
        "PyYAML>=6",
    )
    assert run_check(tmp_path, layer).problems == []


def test_a_requested_extra_brings_its_dependencies(tmp_path):
    layer = fake_layer(tmp_path)
    requires(layer, "PyYAML", "6.0.4", "wrapt; extra == 'tracer'")
    lock, requirements = write_lock(tmp_path, LOCKED)
    requirements.write_text("boto3==1.44.8\nPyYAML[tracer]==6.0.4\n")
    problems = check_layer.check(layer, lock=lock, requirements=requirements).problems
    assert problems == ['pyyaml requires wrapt; extra == "tracer", which the layer lacks']


def test_stable_abi_wheels_of_earlier_cpythons_fit():
    assert check_layer.fits("cp39-abi3-manylinux2014_x86_64")
    assert not check_layer.fits("cp39-cp39-manylinux2014_x86_64")
    assert not check_layer.fits("cp39-abi3-manylinux2014_aarch64")
