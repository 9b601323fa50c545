"""README.md and docs/aws-auth-alerts.md carry the aws-auth policy table generated from RULES."""

from __future__ import annotations

from pathlib import Path

import pytest

from eksguard.aws_auth.rules import RULES, markdown_table

ROOT = Path(__file__).resolve().parents[2]
START = "<!-- aws-auth-rules:start"
END = "<!-- aws-auth-rules:end -->"


@pytest.mark.parametrize("doc", ["README.md", "docs/aws-auth-alerts.md"])
def test_documented_table_is_the_rules_table(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    block = text[text.index(START) : text.index(END)]
    table = block.split("\n", 1)[1].strip()
    assert table == markdown_table(), f"{doc}: run scripts/render_aws_auth_rules.py"


def test_every_rule_says_why_and_names_are_unique() -> None:
    assert all(rule.why.strip() for rule in RULES)
    assert len({rule.name for rule in RULES}) == len(RULES)
