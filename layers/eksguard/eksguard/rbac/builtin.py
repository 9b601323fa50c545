"""The roles every Kubernetes API server creates at start-up, as eksguard knows them.

`builtin_roles.json` is derived by scripts/build_rbac_builtin_roles.py from upstream's bootstrap policy
fixtures (kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/): names,
labels, aggregation selectors and the admin-equivalence reasons of each role. A binding of `edit`,
`admin` or a `system:controller:*` role is thereby judged on what that role can do, not on its name.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from eksguard.rbac.model import parse_selector
from eksguard.rbac.power import RoleBook, RoleFacts

BUILTIN_PATH = Path(__file__).with_name("builtin_roles.json")


@functools.cache
def builtin_roles() -> dict[str, RoleFacts]:
    document = json.loads(BUILTIN_PATH.read_text(encoding="utf-8"))
    roles: dict[str, RoleFacts] = {}
    for entry in document["roles"]:
        aggregation = entry.get("aggregation")
        facts = RoleFacts(
            kind=entry["kind"],
            name=entry["name"],
            namespace=entry.get("namespace"),
            own=tuple(entry.get("admin") or ()),
            own_in_namespace=tuple(entry.get("admin_in_namespace") or ()),
            labels=tuple(sorted((entry.get("labels") or {}).items())),
            aggregation=None if aggregation is None else tuple(parse_selector(s) for s in aggregation),
            source="built-in",
        )
        roles[facts.key] = facts
    return roles


def builtin_book() -> RoleBook:
    return RoleBook(builtin_roles())
