"""End-to-end fixtures: moto + Slack stand-in containers, the seeded world, one `sam build`.

The suite is collected only when EKSGUARD_E2E is set (`make e2e`, `make test` on a machine with
Docker and the local images, CI with EKSGUARD_E2E=required). Once collected it never skips:
a missing engine or image is a failure.
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("EKSGUARD_E2E") else ["test_*.py"]
