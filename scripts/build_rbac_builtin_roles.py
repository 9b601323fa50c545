#!/usr/bin/env python3
"""Derive eksguard's knowledge of the Kubernetes bootstrap roles from upstream's policy fixtures.

Reads kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/
{cluster-roles,controller-roles,namespace-roles}.yaml (the roles every API server creates at start-up,
as upstream's own tests pin them) from DIR, and writes, per role, only what eksguard judges with:
name, labels, aggregation selectors and the admin-equivalence reasons its rules give (power.py).
The rules themselves are not copied.

    python scripts/build_rbac_builtin_roles.py DIR [--commit FILE=SHA ...] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "eksguard"))

from eksguard.rbac.builtin import BUILTIN_PATH  # noqa: E402
from eksguard.rbac.model import parse_role  # noqa: E402
from eksguard.rbac.power import RoleFacts  # noqa: E402

FILES = ("cluster-roles.yaml", "controller-roles.yaml", "namespace-roles.yaml")
UPSTREAM = "kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/"


def derive(directory: Path, commits: dict[str, str]) -> dict[str, Any]:
    roles: list[dict[str, Any]] = []
    for name in FILES:
        document = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
        for item in document.get("items") or []:
            role = parse_role(item, item["kind"])
            facts = RoleFacts.of(role, source="built-in")
            entry: dict[str, Any] = {"kind": facts.kind, "name": facts.name}
            if facts.namespace:
                entry["namespace"] = facts.namespace
            if facts.labels:
                entry["labels"] = dict(facts.labels)
            if facts.aggregation is not None:
                entry["aggregation"] = [s.to_json() for s in facts.aggregation]
            if facts.own:
                entry["admin"] = list(facts.own)
            if facts.own_in_namespace:
                entry["admin_in_namespace"] = list(facts.own_in_namespace)
            roles.append(entry)
    roles.sort(key=lambda r: (r["kind"], r.get("namespace", ""), r["name"]))
    return {"source": {f: commits.get(f, "unknown") for f in FILES}, "upstream": UPSTREAM, "roles": roles}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--commit", action="append", default=[], help="FILE=SHA of the upstream file read")
    parser.add_argument("--check", action="store_true", help="fail when the shipped file differs")
    args = parser.parse_args()
    commits = dict(item.split("=", 1) for item in args.commit)
    text = json.dumps(derive(args.directory, commits), indent=1, sort_keys=True) + "\n"
    if args.check:
        if BUILTIN_PATH.read_text(encoding="utf-8") != text:
            print(f"{BUILTIN_PATH} is out of date", file=sys.stderr)
            return 1
        return 0
    BUILTIN_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {BUILTIN_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
