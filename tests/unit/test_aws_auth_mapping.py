"""aws-auth read as aws-iam-authenticator reads it.

The first table follows the authenticator's own ConfigMap fixtures (pkg/mapper/configmap/yaml/*.yaml
and their expectations in yaml_test.go): the same shapes must give the same effective mappings.
"""

from __future__ import annotations

from typing import Any

import pytest

from eksguard.aws_auth.diff import dead_masters, diff_contents
from eksguard.aws_auth.mapping import AwsAuthContent, go_fold, parse_aws_auth
from tests.aws_auth_support import ADMIN, BASE, INTRUDER, NODE, role

UP_NODE = "arn:aws:iam::555555555555:role/devel-worker-nodes-NodeInstanceRole-74RF4UBDUKL6"
UP_ADMIN = "arn:aws:iam::555555555555:user/admin"
NODE_GROUPS = ("system:bootstrappers", "system:nodes")


def _upstream(roles_key: str, users_key: str, accounts_key: str, arn_key: str, user_key: str, fields: str) -> dict:
    username, groups = fields.split(",")
    return {
        roles_key: f"- {arn_key}: {UP_NODE}\n  {username}: system:node:{{{{EC2PrivateDNSName}}}}\n"
        f"  {groups}:\n    - system:bootstrappers\n    - system:nodes\n",
        users_key: f"- {user_key}: {UP_ADMIN}\n  {username}: admin\n  {groups}:\n    - system:masters\n",
        accounts_key: "- 555555555555\n",
    }


VALID = ({UP_NODE.lower(): NODE_GROUPS}, {UP_ADMIN: ("system:masters",)}, ("555555555555",))
UPSTREAM_FIXTURES: list[tuple[str, dict[str, Any], tuple[dict, dict, tuple]]] = [
    ("aws-auth.yaml", _upstream("mapRoles", "mapUsers", "mapAccounts", "rolearn", "userarn", "username,groups"), VALID),
    (
        "crazy-case-keys",
        _upstream("mapRoles", "mapUsers", "mapAccounts", "rOlEaRn", "uSeRaRn", "UsErNaMe,gRoUpS"),
        VALID,
    ),
    (
        "open-source-case-keys",
        _upstream("mapRoles", "mapUsers", "mapAccounts", "roleARN", "userARN", "username,groups"),
        VALID,
    ),
    (
        "lower-case-top-keys",
        _upstream("maproles", "mapusers", "mapaccounts", "rolearn", "userarn", "username,groups"),
        ({}, {}, ()),
    ),
    (
        "crazy-case-top-keys",
        _upstream("MaPrOlEs", "mApUsErS", "MaPrCcOuNtS", "rolearn", "userarn", "username,groups"),
        ({}, {}, ()),
    ),
    (
        "space-out-of-place",
        {
            "mapRoles": f"- rolearn: {UP_NODE}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n"
            "  groups:\n    - system:bootstrappers\n     - system:nodes\n",
            "mapUsers": f"- userarn: {UP_ADMIN}\n  username: admin\n  groups:\n    - system:masters\n",
            "mapAccounts": "- 555555555555\n",
        },
        (
            {UP_NODE.lower(): ("system:bootstrappers - system:nodes",)},
            {UP_ADMIN: ("system:masters",)},
            ("555555555555",),
        ),
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), UPSTREAM_FIXTURES, ids=[f[0] for f in UPSTREAM_FIXTURES])
def test_upstream_fixture_shapes_give_the_same_mappings(name: str, data: dict, expected: tuple) -> None:
    content = parse_aws_auth(data)
    roles, users, accounts = expected
    assert {e.key[1]: e.groups for e in content.roles} == roles
    assert {e.key[1]: e.groups for e in content.users} == users
    assert content.accounts == accounts


def test_missing_bar_is_not_a_string_and_grants_nothing() -> None:
    # The API server refuses such a ConfigMap; a non-string value never reaches the authenticator.
    content = parse_aws_auth({"mapRoles": [{"rolearn": ADMIN, "groups": ["system:masters"]}]})
    assert content.entries == ()
    assert content.dropped[0].reason == "value is not a string"


def test_field_names_fold_like_go_including_unicode_simple_folding() -> None:
    # U+017F (long s) folds to S in Go's encoding/json: `groupſ` is `groups`.
    raw = f"- RoLeArN: {INTRUDER}\n  GROUPſ: [system:masters]\n"
    content = parse_aws_auth({"mapRoles": raw})
    assert [e.arn for e in content.masters()] == [INTRUDER]
    assert go_fold("groupſ") == go_fold("GROUPS")
    assert go_fold("ıd") != go_fold("ID")  # dotless i is not in i's fold orbit


@pytest.mark.parametrize(
    ("raw", "masters"),
    [
        # json.Marshal of a map sorts keys by bytes; among keys folding to one field the last wins.
        (f"- rolearn: {INTRUDER}\n  RoleArn: {ADMIN}\n  groups: [system:masters]\n", INTRUDER),
        (f"- RoleArn: {INTRUDER}\n  rolearn: {ADMIN}\n  groups: [system:masters]\n", ADMIN),
        (f"- rolearn: {INTRUDER}\n  groups: [system:masters]\n  Groups: [view]\n", INTRUDER),
    ],
)
def test_folded_duplicate_keys_resolve_in_sorted_byte_order(raw: str, masters: str) -> None:
    assert [e.arn for e in parse_aws_auth({"mapRoles": raw}).masters()] == [masters]


@pytest.mark.parametrize(
    "arn",
    [
        "ARN:AWS:IAM::111122223333:ROLE/evil",
        "arn:aws:iam::111122223333:Role/evil",
        "arn:aws:iam::111122223333:uſer/evil",
    ],
)
def test_arn_case_and_go_folding_do_not_make_a_mapping_dead(arn: str) -> None:
    content = parse_aws_auth({"mapRoles": role(arn, "system:masters")})
    assert [e.arn for e in content.masters()] == [arn]


@pytest.mark.parametrize(
    "raw",
    [
        f"- rolearn: {INTRUDER}\n  groups: [view]\n  <<: {{groups: [system:masters]}}\n",
        f"- rolearn: {INTRUDER}\n  groups: [!!binary c3lzdGVtOm1hc3RlcnM=]\n",
        f"- rolearn: {INTRUDER}\n  !!binary Z3JvdXBz: [system:masters]\n",
        f"- rolearn: {INTRUDER}\n  <<: [{{groups: [system:masters]}}, {{groups: [view]}}]\n",
    ],
    ids=["merge-overrides-earlier-key", "binary-value", "binary-key", "merge-list-earlier-wins"],
)
def test_yaml_v2_merge_and_binary_semantics(raw: str) -> None:
    assert [e.arn for e in parse_aws_auth({"mapRoles": raw}).masters()] == [INTRUDER]


def test_unquoted_account_with_8_or_9_is_a_number_for_yaml_v2() -> None:
    sso = "- sso: {{permissionSetName: Evil, accountID: {account}}}\n  groups: [{group}]\n"
    raw = sso.format(account="'012345678901'", group="system:masters") + sso.format(
        account="012345678901", group="view"
    )
    content = parse_aws_auth({"mapRoles": raw})
    assert [e.identity for e in content.masters()] == ["SSO permission set Evil in account 012345678901"]
    assert "accountID" in content.dropped[0].reason


def test_trailing_newline_in_account_id_is_invalid_as_in_go() -> None:
    raw = '- sso: {permissionSetName: X, accountID: "111122223333\\n"}\n  groups: [system:masters]\n'
    assert parse_aws_auth({"mapRoles": raw}).masters() == ()


def test_deep_nesting_that_go_accepts_is_read() -> None:
    deep = "x: " + "[" * 600 + "]" * 600
    raw = f"- rolearn: {INTRUDER}\n  groups: [system:masters]\n  {deep}\n"
    assert [e.arn for e in parse_aws_auth({"mapRoles": raw}).masters()] == [INTRUDER]


def test_aliases_within_yaml_v2_ratio_are_read() -> None:
    # 300k decodes, 98.9% of them through an alias: under yaml.v2's allowed ratio (0.99), so Go reads it.
    items = ", ".join(["x"] * 3000)
    aliases = "\n".join(f"  k{i}: *big" for i in range(100))
    raw = f"- rolearn: {INTRUDER}\n  groups: [system:masters]\n  big: &big [{items}]\n{aliases}\n"
    assert [e.arn for e in parse_aws_auth({"mapRoles": raw}).masters()] == [INTRUDER]


def test_capital_groups_key_grants_masters() -> None:
    content = parse_aws_auth({"mapRoles": f"- rolearn: {INTRUDER}\n  Groups: [system:masters]\n"})
    assert [e.principal for e in content.masters()] == [INTRUDER]


def test_bad_sibling_entry_keeps_the_good_ones() -> None:
    raw = role(ADMIN, "viewers").replace("  groups:\n    - viewers", "  groups: viewers") + role(
        INTRUDER, "system:masters"
    )
    content = parse_aws_auth({"mapRoles": raw})
    admin = content.by_key()[("role", ADMIN.lower())]
    assert admin.groups == () and "not a list" in admin.skipped_fields[0]
    assert [e.arn for e in content.masters()] == [INTRUDER]


def test_invalid_entries_are_dropped_with_reasons_siblings_kept() -> None:
    raw = (
        "- just-a-string\n"
        "- username: nobody\n  groups: [system:masters]\n"
        f"- rolearn: {ADMIN}\n  sso: {{permissionSetName: Admin, accountID: '111122223333'}}\n"
        f"- rolearn: {INTRUDER}\n  groups: [system:masters]\n"
    )
    content = parse_aws_auth({"mapRoles": raw})
    reasons = [d.reason for d in content.dropped]
    assert reasons[0] == "a string, not a mapping"
    assert reasons[1].startswith("neither rolearn nor sso")
    assert reasons[2].startswith("both rolearn and sso")
    assert [e.arn for e in content.masters()] == [INTRUDER]
    assert [d.where for d in dead_masters(content)] == ["mapRoles item 2"]


@pytest.mark.parametrize("value", ["", "   \n", '""', "''", "``", ' "" '])
def test_skippable_values(value: str) -> None:
    assert parse_aws_auth({"mapUsers": value, "mapRoles": value, "mapAccounts": value}) == AwsAuthContent()


def test_map_accounts_keep_the_text_as_written() -> None:
    content = parse_aws_auth({"mapAccounts": "- 012345670123\n- '444455556666'\n- 0x1F\n- ~\n- [nested]\n"})
    assert content.accounts == ("012345670123", "444455556666", "0x1F", "")
    assert content.dropped[0].where == "mapAccounts item 5"


def test_group_names_are_exact_and_near_misses_are_dead() -> None:
    raw = role(INTRUDER, "System:Masters") + role(ADMIN, '" system:masters"')
    content = parse_aws_auth({"mapRoles": raw})
    assert content.masters() == ()
    assert {d.identity for d in dead_masters(content)} == {INTRUDER, ADMIN}


def test_role_arn_with_path_is_dead_user_arn_with_path_is_live() -> None:
    pathed_role = "arn:aws:iam::111122223333:role/team/intruder"
    pathed_user = "arn:aws:iam::111122223333:user/ops/bob"
    content = parse_aws_auth(
        {
            "mapRoles": role(pathed_role, "system:masters"),
            "mapUsers": f"- userarn: {pathed_user}\n  groups: [system:masters]\n",
        }
    )
    assert [e.arn for e in content.masters()] == [pathed_user]
    assert "IAM path" in dead_masters(content)[0].reason


def test_sso_mapping_matches_permission_set_roles() -> None:
    raw = "- sso:\n    permissionSetName: Breakglass\n    accountID: '111122223333'\n  groups: [system:masters]\n"
    content = parse_aws_auth({"mapRoles": raw})
    (entry,) = content.masters()
    assert entry.identity == "SSO permission set Breakglass in account 111122223333"
    assert entry.matches("arn:aws:iam::111122223333:role/AWSReservedSSO_Breakglass_0123abcd")
    assert not entry.matches("arn:aws:iam::999988887777:role/AWSReservedSSO_Breakglass_0123abcd")


def test_sso_with_explicit_partition_is_dead_as_upstream_builds_it() -> None:
    raw = "- sso: {permissionSetName: X, accountID: '111122223333', partition: aws}\n  groups: [system:masters]\n"
    content = parse_aws_auth({"mapRoles": raw})
    assert content.masters() == ()
    assert "empty partition" in dead_masters(content)[0].reason


def test_wildcard_rolearn_is_literal_upstream_so_a_dead_masters_mapping() -> None:
    # pkg/config/mapper.go on master: RoleMapping.Matches is strings.EqualFold, no ArnLike for rolearn.
    content = parse_aws_auth({"mapRoles": role("arn:aws:iam::111122223333:role/*", "system:masters")})
    assert content.masters() == ()
    assert "literally" in dead_masters(content)[0].reason


def test_wildcard_rolearn_does_not_shadow_users_nor_explode() -> None:
    # A backtracking ArnLike over every user entry was quadratic-exponential; now linear and literal.
    user = "arn:aws:iam::111122223333:user/" + "a" * 60
    content = parse_aws_auth(
        {
            "mapRoles": "- rolearn: 'arn:aws:iam::111122223333:*a*a*a*a*a*a*a*a*b'\n  groups: []\n"
            "- rolearn: 'arn:*:*:*:*:*'\n  groups: []\n",
            "mapUsers": f"- userarn: {user}\n  groups: [system:masters]\n",
        }
    )
    assert [e.arn for e in content.masters()] == [user]


@pytest.mark.parametrize(
    ("group", "grants"),
    [
        ("system:{{SessionName}}", True),
        ("{{SessionNameRaw}}:masters", True),
        ("system:master{{SessionName}}", True),
        ("{{SessionName}}", False),  # a session name cannot hold ':'
        ("system:{{AccountID}}", False),
        ("team:{{SessionName}}", False),
    ],
)
def test_session_name_templates_that_can_render_system_masters(group: str, grants: bool) -> None:
    content = parse_aws_auth({"mapRoles": role(INTRUDER, f"'{group}'")})
    assert bool(content.masters()) is grants


def test_last_entry_wins_and_user_entries_lose_to_role_entries() -> None:
    shouted = ADMIN.replace("role/Admin", "role/ADMIN")
    content = parse_aws_auth({"mapRoles": role(ADMIN, "system:masters") + role(shouted, "viewers")})
    assert content.masters() == ()
    assert "later entry" in dead_masters(content)[0].reason
    both = parse_aws_auth(
        {"mapRoles": role(INTRUDER, "viewers"), "mapUsers": f"- userarn: {INTRUDER}\n  groups: [system:masters]\n"}
    )
    assert both.masters() == ()


def test_only_the_first_yaml_document_is_read() -> None:
    raw = role(INTRUDER, "system:masters") + "---\n- rolearn: [unclosed\n"
    assert [e.arn for e in parse_aws_auth({"mapRoles": raw}).masters()] == [INTRUDER]


def test_invalid_yaml_drops_the_key_but_not_the_others() -> None:
    content = parse_aws_auth({"mapRoles": "- rolearn: x\n  groups:\n  - a\n username: b\n", "mapUsers": BASE})
    assert content.roles == ()
    assert content.dropped[0].source == "mapRoles" and "invalid YAML at line" in content.dropped[0].reason


def test_alias_bomb_is_refused_not_expanded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 8):
        bomb += f"{'abcdefgh'[level]}: &{'abcdefgh'[level]} [{', '.join(['*' + 'abcdefgh'[level - 1]] * 10)}]\n"
    content = parse_aws_auth({"mapRoles": bomb})
    assert "excessive aliasing" in content.dropped[0].reason


def test_breakage_locks_out_only_the_principals_it_drops() -> None:
    before = parse_aws_auth({"mapRoles": BASE})
    broken = BASE.replace(f"rolearn: {NODE}", "rolearn: [oops]")
    diff = diff_contents(before, parse_aws_auth({"mapRoles": broken}))
    assert [e.arn for e, _ in diff.lost_by_breakage] == [NODE]
    assert diff.removed == () and diff.masters_left == ()
