"""aws-auth templates matched without backtracking: the same answers as the placeholders' regular
expressions, and a template of hundreds of placeholders answers at once instead of backtracking."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from eksguard.aws_auth.mapping import MASTERS_GROUP, parse_aws_auth, template_can_render, template_may_render

REGEX = {
    "{{SessionName}}": r"[\w+=,.-]*",
    "{{SessionNameRaw}}": r"[\w+=,.@-]*",
    "{{AccountID}}": r"[0-9]{12}",
    "{{AccessKeyID}}": r"[A-Z0-9]*",
    "{{EC2PrivateDNSName}}": r"[a-z0-9.-]*",
}
PART = st.one_of(st.sampled_from(sorted(REGEX)), st.text(alphabet="ab:-.@{}1", min_size=1, max_size=3))
TEXT = st.text(alphabet="ab:-.@_1239AZ", max_size=16)


def reference(template: str, target: str) -> bool:
    parts = re.split(r"(\{\{[A-Za-z0-9]+\}\})", template)
    pattern = "".join(REGEX.get(p, re.escape(p)) for p in parts)
    return re.fullmatch(pattern, target, flags=re.ASCII) is not None


@settings(max_examples=500, deadline=None)
@given(st.lists(PART, min_size=1, max_size=5).map("".join), TEXT)
def test_same_answers_as_the_regular_expressions(template: str, target: str) -> None:
    expected = "{{" in template and reference(template, target)
    assert template_may_render(template, target) is expected


@settings(max_examples=200, deadline=None)
@given(st.lists(PART, min_size=1, max_size=4).map("".join), st.text(alphabet="abc-", max_size=8))
def test_with_an_account_id(template: str, suffix: str) -> None:
    target = "123456789012" + suffix
    assert template_may_render("{{AccountID}}" + template, target) is reference("{{AccountID}}" + template, target)


def test_hundreds_of_placeholders_are_read_at_once() -> None:
    evil = "system:" + "{{SessionName}}x" * 200 + "y"
    assert not template_can_render(evil, MASTERS_GROUP)
    assert template_may_render(evil, "system:" + "x" * 200 + "y")
    config = {"mapRoles": f"- rolearn: arn:aws:iam::123456789012:role/r\n  username: u\n  groups: ['{evil}']\n"}
    assert parse_aws_auth(config).masters() == ()
