#!/usr/bin/env python3
"""Rewrite the aws-auth policy table in README.md and docs/aws-auth-alerts.md from the rules in code.

.venv/bin/python scripts/render_aws_auth_rules.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "eksguard"))

from eksguard.aws_auth.rules import markdown_table  # noqa: E402

START = "<!-- aws-auth-rules:start"
END = "<!-- aws-auth-rules:end -->"


def main() -> int:
    for name in ("README.md", "docs/aws-auth-alerts.md"):
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        marker_line, _ = rest.split("\n", 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{START}{marker_line}\n{markdown_table()}\n{END}{tail}", encoding="utf-8")
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
