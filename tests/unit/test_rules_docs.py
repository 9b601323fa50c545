"""README.md and docs/ carry the CloudTrail, aws-auth and RBAC policy tables generated from the rules in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eksguard.aws_auth.rules import RULES as AWS_AUTH_RULES
from eksguard.eks_api.rules import RULES as EKS_API_RULES
from eksguard.rbac.rules import LINE_RULES
from eksguard.rbac.rules import RULES as RBAC_RULES
from scripts.render_rules import TABLES, markers

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [(name, doc) for name, (_, docs) in TABLES.items() for doc in docs]


@pytest.mark.parametrize(("name", "doc"), DOCUMENTED)
def test_documented_table_is_the_rules_table(name: str, doc: str) -> None:
    start, end = markers(name)
    text = (ROOT / doc).read_text(encoding="utf-8")
    block = text[text.index(start) : text.index(end)]
    table = block.split("\n", 1)[1].strip()
    assert table == TABLES[name][0](), f"{doc}: run scripts/render_rules.py"


@pytest.mark.parametrize("rules", [EKS_API_RULES, AWS_AUTH_RULES, (*RBAC_RULES, *LINE_RULES.values())])
def test_every_rule_says_why_and_names_are_unique(rules: tuple[Any, ...]) -> None:
    assert all(rule.why.strip() for rule in rules)
    assert len({rule.name for rule in rules}) == len(rules)
