#!/usr/bin/env python3
"""Write the RBAC sample deliveries in events/src/rbac/ from the recorded kubectl requests.

Each sample is one CloudWatch Logs delivery of one or more audit entries built by tests/rbac_support.py
from what a real kubectl sent (tests/data/kubectl_rbac_requests.json): one sample per RBAC rule, used by
the tests, `sam local invoke` (events/rbac_*.json, built by scripts/build_awslogs_events.py) and the demo.

    python scripts/build_rbac_event_sources.py && python scripts/build_awslogs_events.py
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "eksguard")]

from tests.aws_auth_support import ADMIN  # noqa: E402
from tests.rbac_support import admin_session, audit_entry, recorded_write, user  # noqa: E402

OUT = ROOT / "events" / "src" / "rbac"
RBAC = "rbac.authorization.k8s.io"
STREAM = "kube-apiserver-audit-7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
T0 = 1748772000000  # 2025-06-01T10:00:00Z


def reshaped(command: str, **changes: Any) -> dict[str, Any]:
    write = copy.deepcopy(recorded_write(command))
    for obj in (write["body"], write["response"]):
        for key, value in changes.items():
            obj[key] = copy.deepcopy(value)
    return write


def delivery(name: str, entries: list[dict[str, Any]], truncate: dict[int, int] | None = None) -> dict[str, Any]:
    events = []
    for i, entry in enumerate(entries):
        second = i + 1
        stamp = f"2025-06-01T10:00:{second:02d}.000000Z"
        entry["requestReceivedTimestamp"] = entry["stageTimestamp"] = stamp
        event: dict[str, Any] = {
            "id": f"3864{int(hashlib.sha256(name.encode()).hexdigest()[:8], 16):010d}{i:04d}".ljust(56, "0"),
            "timestamp": T0 + second * 1000,
            "message": entry,
        }
        if truncate and i in truncate:
            event["truncateAtChars"] = truncate[i]
        events.append(event)
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": "/aws/eks/prod/cluster",
        "logStream": STREAM,
        "subscriptionFilters": ["eksguard-aws-auth"],
        "logEvents": events,
    }


def samples() -> dict[str, dict[str, Any]]:
    view_for_readers = reshaped(
        "crb_apply_create",
        metadata={"name": "readers"},
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
        subjects=[{"apiGroup": RBAC, "kind": "Group", "name": "readers"}],
    )
    admin_binding = reshaped(
        "crb_apply_create",
        metadata={"name": "viewers", "resourceVersion": "1200"},
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
        subjects=[{"apiGroup": RBAC, "kind": "User", "name": ADMIN}],
    )
    patched = copy.deepcopy(recorded_write("crb_patch_json"))
    patched["response"] = copy.deepcopy(admin_binding["response"])
    patched["response"]["metadata"]["resourceVersion"] = "1201"
    patched["response"]["subjects"].append({"apiGroup": RBAC, "kind": "User", "name": "attacker"})
    padded = audit_entry(recorded_write("crb_create_user"), "c0ffee00-0000-4000-8000-00000000000b")
    padded["user"]["extra"]["padding"] = ["p" * 3000]
    denied_padded = audit_entry(recorded_write("crb_create_user"), "c0ffee00-0000-4000-8000-000000000012", code=403)
    denied_padded["requestObject"]["metadata"]["annotations"] = {"note": "p" * 3000}
    delete_padded = audit_entry(recorded_write("crb_delete"), "c0ffee00-0000-4000-8000-000000000013")
    delete_padded["user"]["extra"]["padding"] = ["p" * 3000]
    unknown_role = reshaped(
        "crb_create_user",
        metadata={"name": "legacy-ops"},
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "legacy-ops"},
    )
    expected = reshaped(
        "crb_create_user",
        metadata={"name": "break-glass"},
        subjects=[{"apiGroup": RBAC, "kind": "User", "name": ADMIN}],
    )
    eks_owned = reshaped("crb_create_sa", metadata={"name": "eks:addon-cluster-admin"})
    group = reshaped("crb_create_group")
    aid = "c0ffee00-0000-4000-8000-0000000000"
    return {
        "cluster_admin_backdoor": delivery("backdoor", [audit_entry(recorded_write("crb_create_user"), f"{aid}01")]),
        "group_binding": delivery(
            "group",
            [
                audit_entry(group, f"{aid}02"),
            ],
        ),
        "kube_system_rolebinding": delivery("ks", [audit_entry(recorded_write("rb_create_kube_system"), f"{aid}03")]),
        "aggregated_into_view": delivery(
            "aggregate",
            [
                audit_entry(view_for_readers, f"{aid}04", actor=admin_session()),
                audit_entry(recorded_write("cr_apply_aggregated"), f"{aid}05"),
            ],
        ),
        "role_became_admin": delivery("wildcard", [audit_entry(recorded_write("cr_create_wildcard"), f"{aid}06")]),
        "namespace_admin": delivery("team", [audit_entry(recorded_write("rb_create_team"), f"{aid}07")]),
        "unknown_role": delivery("unknown", [audit_entry(unknown_role, f"{aid}08")]),
        "denied": delivery("denied", [audit_entry(recorded_write("crb_create_user"), f"{aid}09", code=403)]),
        "dry_run": delivery("dryrun", [audit_entry(recorded_write("crb_create_dry_run"), f"{aid}0a")]),
        "truncated": delivery("truncated", [padded], truncate={0: 1500}),
        # cut inside the padded body: the object reference and the 403 are visible
        "truncated_denied": delivery("truncated-denied", [denied_padded], truncate={0: 2600}),
        "truncated_delete": delivery("truncated-delete", [delete_padded], truncate={0: 1500}),
        "metadata_only": delivery(
            "metadata", [audit_entry(recorded_write("crb_create_user"), f"{aid}0c", level="Metadata")]
        ),
        "expected_admin": delivery("expected", [audit_entry(expected, f"{aid}0d", actor=admin_session())]),
        "eks_owned": delivery(
            "eks",
            [
                audit_entry(
                    eks_owned, f"{aid}0e", actor={"username": "eks:addon-manager", "groups": ["system:authenticated"]}
                )
            ],
        ),
        "json_patch": delivery(
            "patch",
            [
                audit_entry(admin_binding, f"{aid}0f", actor=admin_session()),
                audit_entry(patched, f"{aid}10", actor=user()),
            ],
        ),
        "binding_deleted": delivery("deleted", [audit_entry(recorded_write("crb_delete"), f"{aid}11")]),
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, source in samples().items():
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
