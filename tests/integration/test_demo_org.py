"""`make demo-org` stays true: the organisation demo runs its own checks (a hub, a spoke, a refusing spoke)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_organisation_demo_passes_its_checks() -> None:
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "demo_org.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "OK:" in done.stdout
    assert "(444455556666 payments-prod)" in done.stdout
    assert "777788889999: cannot assume" in done.stdout
