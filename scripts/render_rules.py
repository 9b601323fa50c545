#!/usr/bin/env python3
"""Rewrite the policy tables in README.md and docs/ from the rules in code (CloudTrail, aws-auth, RBAC).

.venv/bin/python scripts/render_rules.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "eksguard"))

from eksguard.aws_auth.rules import markdown_table as aws_auth_table  # noqa: E402
from eksguard.eks_api.rules import markdown_routing as eks_api_routing  # noqa: E402
from eksguard.eks_api.rules import markdown_table as eks_api_table  # noqa: E402
from eksguard.rbac.rules import markdown_table as rbac_table  # noqa: E402

# marker name -> (table, documents carrying it)
TABLES: dict[str, tuple[Callable[[], str], tuple[str, ...]]] = {
    "eks-api-routing": (eks_api_routing, ("README.md", "docs/eks-api-alerts.md")),
    "eks-api-rules": (eks_api_table, ("README.md", "docs/eks-api-alerts.md")),
    "aws-auth-rules": (aws_auth_table, ("README.md", "docs/aws-auth-alerts.md")),
    "rbac-rules": (rbac_table, ("README.md", "docs/rbac-alerts.md")),
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start", f"<!-- {name}:end -->"


def main() -> int:
    for name, (table, documents) in TABLES.items():
        start, end = markers(name)
        for document in documents:
            path = ROOT / document
            text = path.read_text(encoding="utf-8")
            head, rest = text.split(start, 1)
            marker_line, _ = rest.split("\n", 1)
            _, tail = rest.split(end, 1)
            path.write_text(f"{head}{start}{marker_line}\n{table()}\n{end}{tail}", encoding="utf-8")
            print(f"wrote {name} in {document}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
