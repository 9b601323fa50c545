from __future__ import annotations

import pytest

from eksguard.aws_auth.mapping import AwsAuthContent, MapEntry, ParseError, parse_aws_auth
from tests.aws_auth_support import ADMIN, BASE, NODE, role


def test_parses_roles_users_accounts() -> None:
    content = parse_aws_auth(
        {
            "mapRoles": BASE,
            "mapUsers": "- userarn: arn:aws:iam::111122223333:user/ops\n  username: ops\n  groups: [system:masters]\n",
            "mapAccounts": '- "444455556666"\n- 012345678901\n',
        }
    )
    assert [e.arn for e in content.roles] == [NODE, ADMIN]
    assert content.roles[0].is_node and not content.roles[0].is_master
    assert content.users == (MapEntry("user", "arn:aws:iam::111122223333:user/ops", "ops", ("system:masters",)),)
    # an unquoted account id loses its leading zero in YAML; it is restored to 12 digits
    assert content.accounts == ("444455556666", "012345678901")
    assert {e.arn for e in content.masters()} == {ADMIN, "arn:aws:iam::111122223333:user/ops"}


def test_empty_and_missing_keys_are_empty_lists() -> None:
    assert parse_aws_auth(None) == AwsAuthContent()
    assert parse_aws_auth({"mapRoles": "", "mapUsers": "   \n"}) == AwsAuthContent()


def test_json_form_is_accepted() -> None:
    content = parse_aws_auth({"mapRoles": f'[{{"rolearn": "{ADMIN}", "groups": ["system:masters"]}}]'})
    assert content.roles[0].is_master


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("- rolearn: x\n  groups:\n  - a\n username: b\n", "invalid YAML at line"),
        ("rolearn: x\n", "not a list of mappings"),
        ("- just-a-string\n", "item 1 is a str, not a mapping"),
        ("- username: nobody\n", "item 1 has no rolearn"),
        (f"- rolearn: {ADMIN}\n  groups: system:masters\n", "groups is not a list of strings"),
    ],
)
def test_broken_content_is_a_parse_error_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_aws_auth({"mapRoles": raw})
    assert caught.value.key == "mapRoles"
    assert reason in caught.value.reason


def test_bad_map_accounts_and_non_string_value() -> None:
    with pytest.raises(ParseError, match="mapAccounts"):
        parse_aws_auth({"mapAccounts": "- {a: b}\n"})
    with pytest.raises(ParseError, match="not a YAML string"):
        parse_aws_auth({"mapRoles": ["list"]})


def test_repeated_arn_last_entry_wins_case_insensitively() -> None:
    shouted = ADMIN.replace("role/Admin", "role/ADMIN")
    content = parse_aws_auth({"mapRoles": role(ADMIN, "system:masters") + role(shouted, "viewers")})
    assert len(content.by_key()) == 1
    assert content.masters() == ()


def test_round_trip_dict() -> None:
    content = parse_aws_auth({"mapRoles": BASE, "mapAccounts": "- '444455556666'\n"})
    assert AwsAuthContent.from_dict(content.to_dict()) == content
