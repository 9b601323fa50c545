"""Hypothesis strategies for aws-auth contents that try to hide a system:masters grant.

Each example is a ConfigMap `data` map in which one principal that is not an expected admin is
effectively in system:masters (as aws-iam-authenticator reads it), disguised by random field-name
casing (Go's encoding/json folds case, U+017F included), invalid sibling entries the authenticator
drops while keeping the rest, skippable values in the other keys, JSON or block YAML, and either a
literal group or a session-name template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

ACCOUNT = "111122223333"
EXPECTED_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
NODE = f"arn:aws:iam::{ACCOUNT}:role/eks-node-group-role"
SKIPPABLE = ["", '""', "''", "``", "   \n", ' "" ']


@dataclass(frozen=True)
class Disguised:
    data: dict[str, str]
    principal: str  # what the alert must name (ARN, or the SSO role pattern)
    named: str  # text that must appear in the alert title


def _cased(name: str) -> st.SearchStrategy[str]:
    def one(ch: str) -> st.SearchStrategy[str]:
        options = [ch.lower(), ch.upper()]
        if ch.lower() == "s":
            options.append("ſ")
        return st.sampled_from(options)

    return st.tuples(*(one(c) for c in name)).map("".join)


_names = st.from_regex(r"[A-Za-z][A-Za-z0-9+=,.@_-]{0,18}", fullmatch=True).filter(lambda n: n.lower() != "admin")
_other_groups = st.lists(st.sampled_from(["viewers", "team:dev", "system:authenticated", "ops"]), max_size=2)


def _siblings() -> st.SearchStrategy[list[Any]]:
    invalid: st.SearchStrategy[Any] = st.sampled_from(
        [
            "just a string",
            42,
            None,
            [],
            {"username": "nobody", "groups": ["system:masters"]},
            {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/Viewer", "groups": "viewers"},
            {"rolearn": ["not", "a", "string"], "groups": ["viewers"]},
            {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/Both", "sso": {"permissionSetName": "X", "accountID": ACCOUNT}},
            {"sso": {"permissionSetName": "bad name!", "accountID": "1"}, "groups": ["system:masters"]},
            {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/team/Pathed", "groups": ["system:masters"]},
            {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/Typo", "groups": ["System:Masters"]},
            {"rolearn": 123456789012, "groups": ["system:masters"]},
            {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/Nums", "groups": [1, True, None, "viewers"]},
        ]
    )
    return st.lists(invalid, max_size=5)


@st.composite
def disguised_grants(draw: st.DrawFn) -> Disguised:
    kind = draw(st.sampled_from(["role", "user", "sso", "template"]))
    name = draw(_names)
    groups_key = draw(_cased("groups"))
    groups = [*draw(_other_groups)]
    master = "system:{{SessionName}}" if kind == "template" else "system:masters"
    groups.insert(draw(st.integers(0, len(groups))), master)
    entry: dict[str, Any] = {groups_key: groups}
    if draw(st.booleans()):
        entry[draw(_cased("username"))] = draw(st.sampled_from(["intruder", "{{SessionName}}", "kubernetes-admin"]))
    if kind == "sso":
        permission_set = name[:32]
        entry[draw(_cased("sso"))] = {
            draw(_cased("permissionSetName")): permission_set,
            draw(_cased("accountID")): ACCOUNT,
        }
        principal = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_{permission_set}_*"
        named = f"SSO permission set {permission_set}"
    else:
        arn_kind = "user" if kind == "user" else "role"
        principal = f"arn:aws:iam::{ACCOUNT}:{arn_kind}/{name}"
        if draw(st.booleans()):  # strings.EqualFold: the ARN's case does not matter to the authenticator
            principal = principal.replace("arn:aws:iam", "ARN:AWS:IAM").replace(
                f":{arn_kind}/", f":{arn_kind.upper()}/"
            )
        field = "userarn" if kind == "user" else "rolearn"
        first, second = draw(_cased(field)), draw(_cased(field))
        if first != second:
            # Two spellings of the ARN field: json.Marshal sorts keys by bytes, the last one wins.
            decoy, winner = sorted((first, second), key=lambda k: k.encode("utf-8"))
            entry[decoy] = EXPECTED_ADMIN
            entry[winner] = principal
        else:
            entry[first] = principal
        named = principal
    base = [
        {
            "rolearn": NODE,
            "username": "system:node:{{EC2PrivateDNSName}}",
            "groups": ["system:bootstrappers", "system:nodes"],
        },
        {"rolearn": EXPECTED_ADMIN, "username": "admin", "groups": ["system:masters"]},
    ]
    items = draw(_siblings())
    items.insert(draw(st.integers(0, len(items))), entry)
    target_key = "mapUsers" if kind == "user" else "mapRoles"
    listed = items if target_key == "mapUsers" else base + items
    as_json = draw(st.booleans())
    text = json.dumps(listed) if as_json else yaml.safe_dump(listed, allow_unicode=True, sort_keys=False)
    if not as_json and kind != "template" and draw(st.booleans()):
        # yaml.v2 base64-decodes !!binary scalars: the group is still system:masters.
        text = text.replace("- system:masters", "- !!binary c3lzdGVtOm1hc3RlcnM=")
    data = {"mapRoles": yaml.safe_dump(base, sort_keys=False) if target_key == "mapUsers" else text}
    if target_key == "mapUsers":
        data["mapUsers"] = text
    else:
        skipped = draw(st.sampled_from([None, *SKIPPABLE]))
        if skipped is not None:
            data["mapUsers"] = skipped
    accounts = draw(st.sampled_from([None, *SKIPPABLE]))
    if accounts is not None:
        data["mapAccounts"] = accounts
    return Disguised(data=data, principal=principal, named=named)
