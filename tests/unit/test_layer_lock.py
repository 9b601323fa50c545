"""The layer's lock covers its requirements at the tested versions, and the layer build installs from it."""

from __future__ import annotations

import re

import pytest

from scripts import lock_layer
from tests.unit.test_pins import ROOT, requirements

LAYER_MAKEFILE = ROOT / "layers/eksguard/Makefile"


def lock_versions() -> dict[str, str]:
    entries, problems = lock_layer.parse_lock(lock_layer.LOCK.read_text())
    assert not problems, problems
    return {name: entry.version for name, entry in entries.items()}


def test_lock_holds_every_direct_pin_at_its_version():
    locked = lock_versions()
    for name, version in requirements(ROOT / "layers/eksguard/requirements.txt").items():
        assert locked.get(name) == version, f"{name}: requirements.txt {version}, requirements.lock {locked.get(name)}"


def test_lock_ships_the_versions_the_tests_run_with():
    dev = requirements(ROOT / "requirements-dev.txt")
    for name, version in lock_versions().items():
        if name in dev:
            assert dev[name] == version, f"{name}: requirements.lock {version}, requirements-dev.txt {dev[name]}"


def test_lock_was_written_from_the_current_requirements():
    text = lock_layer.LOCK.read_text()
    assert lock_layer.offline_problems(lock_layer.REQUIREMENTS.read_text(), text) == []
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "make lock" in header


def test_every_locked_line_has_a_hash_and_the_lines_are_sorted():
    lines = [line for line in lock_layer.LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert lines
    assert all(lock_layer.LOCK_LINE.match(line) for line in lines)
    names = [line.split("==", 1)[0] for line in lines]
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_lock_covers_the_closure_beyond_the_direct_pins():
    locked = lock_versions()
    assert {"botocore", "urllib3", "wrapt", "aws-xray-sdk", "jmespath", "s3transfer"} <= set(locked)


def test_layer_build_installs_the_lock_for_the_lock_target():
    makefile = LAYER_MAKEFILE.read_text()
    defaults = dict(re.findall(r"^(\w+) \?= (\S+)$", makefile, re.M))
    assert defaults["LAMBDA_PYTHON_VERSION"] == lock_layer.PYTHON_VERSION
    assert defaults["LAMBDA_PLATFORM"] == lock_layer.PLATFORM
    recipe = makefile.split("build-EksguardLayer:", 1)[1]
    for flag in ("--requirement requirements.lock", "--require-hashes", "--no-deps", "--only-binary=:all:"):
        assert flag in recipe
    assert "requirements.txt" not in recipe


REQUIREMENTS_TEXT = "# comment\nboto3==1.44.8\nPyYAML==6.0.4\n"
HASH = "--hash=sha256:" + "a" * 64


def lock_for(requirements_text: str, *lines: str) -> str:
    header = f"# requirements.txt digest: sha256:{lock_layer.requirements_digest(requirements_text)}\n"
    return header + "".join(f"{line} {HASH}\n" for line in lines)


def test_offline_check_accepts_a_fitting_lock():
    lock = lock_for(REQUIREMENTS_TEXT, "boto3==1.44.8", "botocore==1.44.18", "pyyaml==6.0.4")
    assert lock_layer.offline_problems(REQUIREMENTS_TEXT, lock) == []


def test_offline_check_ignores_comments_and_order_of_requirements():
    lock = lock_for(REQUIREMENTS_TEXT, "boto3==1.44.8", "pyyaml==6.0.4")
    reordered = "PyYAML==6.0.4   # yaml\n\nboto3==1.44.8\n"
    assert lock_layer.offline_problems(reordered, lock) == []


@pytest.mark.parametrize(
    ("requirements_text", "lines", "expected"),
    [
        (REQUIREMENTS_TEXT, ("boto3==1.44.7", "pyyaml==6.0.4"), "boto3: pinned 1.44.8 in requirements.txt"),
        (REQUIREMENTS_TEXT, ("boto3==1.44.8",), "pyyaml: pinned 6.0.4 in requirements.txt, missing"),
    ],
)
def test_offline_check_catches_a_pin_the_lock_does_not_hold(requirements_text, lines, expected):
    problems = lock_layer.offline_problems(requirements_text, lock_for(requirements_text, *lines))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_offline_check_catches_a_stale_lock():
    lock = lock_for(REQUIREMENTS_TEXT, "boto3==1.44.8", "pyyaml==6.0.4", "slack-sdk==3.48.0")
    grown = REQUIREMENTS_TEXT + "slack_sdk==3.48.0\n"
    assert lock_layer.offline_problems(REQUIREMENTS_TEXT, lock) == []
    assert any("stale" in problem for problem in lock_layer.offline_problems(grown, lock))


def test_offline_check_rejects_unhashed_or_repeated_lines():
    lock = lock_for(REQUIREMENTS_TEXT, "boto3==1.44.8", "pyyaml==6.0.4", "pyyaml==6.0.4") + "six==1.17.0\n"
    problems = lock_layer.offline_problems(REQUIREMENTS_TEXT, lock)
    assert any("'six==1.17.0' is not" in problem for problem in problems), problems
    assert any("pyyaml is listed twice" in problem for problem in problems), problems


def test_lock_refuses_an_unpinned_requirement():
    with pytest.raises(ValueError, match="not pinned"):
        lock_layer.direct_pins("boto3>=1.44\n")
