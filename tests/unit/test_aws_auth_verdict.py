from __future__ import annotations

import json

import pytest

from eksguard.alerts import Alert, alert_id
from eksguard.audit_log.payload import (
    PayloadError,
    audit_records,
    cluster_from_log_group,
    decode_awslogs,
    entry_key,
)
from eksguard.aws_auth.process import process_batch
from eksguard.aws_auth.state import InMemoryStateStore, StoredState
from eksguard.console import log_stream_url
from eksguard.severity import Severity
from tests.aws_auth_support import (
    ACCOUNT,
    ADMIN,
    ADMIN_YAML,
    BASE,
    INTRUDER,
    INTRUDER_YAML,
    NODE,
    NODE_YAML,
    URI,
    VIEWER_YAML,
    audit_event,
    configmap,
    delivery,
    entry_keys,
    expected_admins,
    role,
    update,
)

EXPECTED = expected_admins(ADMIN, f"arn:aws:iam::{ACCOUNT}:role/BreakGlass")


def run(event: dict, store: InMemoryStateStore | None = None) -> tuple[list[Alert], InMemoryStateStore, dict]:
    store = store if store is not None else InMemoryStateStore()
    published: list[Alert] = []
    result = process_batch(decode_awslogs(event), EXPECTED, store, "eu-west-1", published.extend)
    assert published == result.alerts
    return result.alerts, store, result.summary()


def seeded(map_roles: str = BASE, rv: int = 100, ts: str = "2025-05-01T09:00:00.000000Z") -> InMemoryStateStore:
    store = InMemoryStateStore()
    store.items["prod"] = StoredState(
        cluster="prod",
        status="present",
        data={"mapRoles": map_roles},
        resource_version=str(rv),
        stage_timestamp=ts,
        audit_id="seed",
        recent_audit_ids=("seed",),
    )
    return store


def test_backdoor_is_critical_and_names_principal_actor_and_source() -> None:
    patch = audit_event(
        "patch",
        "aud-1",
        request={"data": {"mapRoles": BASE + INTRUDER_YAML}},
        response=configmap({"mapRoles": BASE + INTRUDER_YAML}, 101),
    )
    event = delivery([patch])
    alerts, store, _ = run(event, seeded())
    (alert,) = alerts
    assert alert.severity is Severity.CRITICAL
    assert alert.title == f"{INTRUDER} added to system:masters by {ADMIN} (session alice)"
    assert alert.notification_text().startswith(f"[CRITICAL] prod: {INTRUDER} added to system:masters")
    assert (alert.kind, alert.cluster, alert.principal) == ("aws-auth", "prod", INTRUDER)
    (log_event,) = decode_awslogs(event).events
    assert alert.id == alert_id("aws-auth", "prod", entry_key(log_event))  # the log line, not the auditID
    assert alert.actor is not None and alert.actor.source_ip == "203.0.113.10"
    assert alert.actor.user_agent == "kubectl/v1.31.2" and alert.actor.username == "admin"
    facts = dict((f.label, f.value) for f in alert.facts)
    assert facts["Change"] == "patch (merge-patch), fieldManager=kubectl-patch"
    assert "system:masters" in facts["CRITICAL"] and "intruder" in facts["CRITICAL"]
    assert alert.source is not None and alert.source.kind == "audit-log"
    assert alert.source.description == "/aws/eks/prod/cluster / kube-apiserver-audit-0123456789abcdef"
    assert alert.source.url == log_stream_url(
        "eu-west-1", "/aws/eks/prod/cluster", "kube-apiserver-audit-0123456789abcdef"
    )
    assert alert.source.url is not None and "$252Faws$252Feks$252Fprod$252Fcluster" in alert.source.url
    assert store.items["prod"].resource_version == "101"


def test_expected_admin_added_is_info() -> None:
    breakglass = role(f"arn:aws:iam::{ACCOUNT}:role/BreakGlass", "system:masters")
    alerts, _, _ = run(delivery([update("aud-1", BASE + breakglass, 101)]), seeded())
    assert [a.severity for a in alerts] == [Severity.INFO]
    assert alerts[0].title.startswith(f"expected admin arn:aws:iam::{ACCOUNT}:role/BreakGlass added to")


@pytest.mark.parametrize(
    ("new_roles", "extra", "severity", "title_start"),
    [
        (ADMIN_YAML, {}, Severity.CRITICAL, f"node role {NODE} removed from aws-auth"),
        (
            BASE + role(f"arn:aws:iam::{ACCOUNT}:role/node-2", "system:bootstrappers", "system:nodes"),
            {},
            Severity.INFO,
            f"node role arn:aws:iam::{ACCOUNT}:role/node-2 added to aws-auth",
        ),
        (BASE + VIEWER_YAML, {}, Severity.INFO, f"arn:aws:iam::{ACCOUNT}:role/ReadOnly added to aws-auth as"),
        (NODE_YAML, {}, Severity.INFO, f"{ADMIN} removed from system:masters by"),
        (BASE, {"mapAccounts": "- '444455556666'\n"}, Severity.MEDIUM, "account 444455556666 added to"),
        (
            BASE + role(f"arn:aws:iam::{ACCOUNT}:role/team/Dev", "viewers"),
            {},
            Severity.INFO,
            f"dead aws-auth mapping for arn:aws:iam::{ACCOUNT}:role/team/Dev (mapRoles item 3)",
        ),
        (
            BASE + role(f"arn:aws:iam::{ACCOUNT}:role/team/Boss", "system:masters"),
            {},
            Severity.MEDIUM,
            f"dead system:masters mapping for arn:aws:iam::{ACCOUNT}:role/team/Boss (mapRoles item 3)",
        ),
        ("- rolearn: [unclosed\n", {}, Severity.CRITICAL, f"{NODE} loses access to the cluster"),
        ("rolearn: not-a-list\n", {}, Severity.CRITICAL, f"{NODE} loses access to the cluster"),
    ],
)
def test_verdicts_against_prior_state(new_roles: str, extra: dict, severity: Severity, title_start: str) -> None:
    alerts, _, _ = run(delivery([update("aud-1", new_roles, 101, **extra)]), seeded())
    assert len(alerts) == 1
    assert alerts[0].severity is severity
    assert alerts[0].title.startswith(title_start), alerts[0].title


def test_broken_content_is_stored_and_next_valid_update_is_judged_in_full() -> None:
    store = seeded()
    run(delivery([update("aud-1", "- rolearn: [unclosed\n", 101)]), store)
    alerts, _, _ = run(delivery([update("aud-2", BASE + INTRUDER_YAML, 102, ts="2025-05-01T10:01:00.000000Z")]), store)
    assert alerts[0].severity is Severity.CRITICAL
    assert alerts[0].title.startswith(f"{INTRUDER} added to system:masters")


def test_without_prior_state_full_content_is_judged() -> None:
    alerts, store, _ = run(delivery([update("aud-1", BASE + INTRUDER_YAML, 101)]))
    assert alerts[0].severity is Severity.CRITICAL
    assert alerts[0].title.startswith(f"{INTRUDER} is in system:masters (not an expected admin)")
    assert any(f.value.startswith("no earlier aws-auth state") for f in alerts[0].facts)
    benign, _, _ = run(delivery([update("aud-2", BASE, 101)]))
    assert benign[0].severity is Severity.INFO


def test_no_mapping_change_no_alert_but_state_advances() -> None:
    alerts, store, summary = run(delivery([update("aud-1", BASE, 101)]), seeded())
    assert alerts == [] and summary["stateWritten"] is True
    assert store.items["prod"].resource_version == "101"


def test_delete_is_critical_and_lists_lost_mappings() -> None:
    event = audit_event("delete", "aud-1", response={"kind": "Status", "status": "Success"})
    alerts, store, _ = run(delivery([event]), seeded())
    assert alerts[0].severity is Severity.CRITICAL
    assert alerts[0].title.startswith(f"aws-auth deleted by {ADMIN} (session alice)")
    assert ADMIN in (alerts[0].summary or "")
    assert store.items["prod"].status == "deleted"


def test_metadata_create_is_medium_then_next_patch_is_judged_in_full() -> None:
    create = audit_event("create", "aud-1", code=201, level="Metadata", uri="/api/v1/namespaces/kube-system/configmaps")
    alerts, store, _ = run(delivery([create]))
    assert alerts[0].severity is Severity.MEDIUM and "content unknown" in alerts[0].title
    assert store.items["prod"].status == "unknown"


def test_denied_attempt_to_add_masters_is_medium_and_changes_nothing() -> None:
    store = seeded()
    event = audit_event("patch", "aud-1", code=403, request={"data": {"mapRoles": BASE + INTRUDER_YAML}})
    attempt = delivery([event])
    alerts, _, _ = run(attempt, store)
    assert alerts[0].severity is Severity.MEDIUM
    assert alerts[0].title == (
        f"attempt (denied): {ADMIN} (session alice) tried to add {INTRUDER} to system:masters (denied: 403)"
    )
    assert store.items["prod"].data == {"mapRoles": BASE}
    assert entry_keys(attempt)[0] in store.items["prod"].recent_audit_ids
    other = audit_event("patch", "aud-2", code=409, request={"data": {"mapRoles": BASE + VIEWER_YAML}})
    alerts, _, _ = run(delivery([other]), store)
    assert alerts[0].severity is Severity.INFO


def test_duplicate_delivery_gives_one_alert() -> None:
    store = seeded()
    event = delivery([update("aud-1", BASE + INTRUDER_YAML, 101)])
    first, _, _ = run(event, store)
    again, _, summary = run(event, store)
    assert len(first) == 1 and again == [] and summary["duplicates"] == 1


def test_out_of_order_delivery_does_not_overwrite_newer_state() -> None:
    store = seeded()
    newer = update("aud-new", BASE + VIEWER_YAML, 120, ts="2025-05-01T10:05:00.000000Z")
    older = update("aud-old", BASE + INTRUDER_YAML, 110, ts="2025-05-01T10:01:00.000000Z")
    run(delivery([newer]), store)
    older_delivery = delivery([older])
    alerts, _, summary = run(older_delivery, store)
    assert summary["late"] == 1
    # judged on its own content: the intruder it granted is still reported
    assert alerts[0].severity is Severity.CRITICAL
    assert any("arrived after a newer aws-auth change" in f.value for f in alerts[0].facts)
    assert store.items["prod"].resource_version == "120"
    assert store.items["prod"].data == {"mapRoles": BASE + VIEWER_YAML}
    assert entry_keys(older_delivery)[0] in store.items["prod"].recent_audit_ids


def test_ordering_falls_back_to_stage_timestamp_without_resource_version() -> None:
    store = seeded(ts="2025-05-01T10:05:00.000000Z")
    late_patch = audit_event(
        "patch", "aud-1", request={"data": {"mapRoles": ADMIN_YAML}}, ts="2025-05-01T10:00:00.000000Z"
    )
    _, _, summary = run(delivery([late_patch]), store)
    assert summary["late"] == 1 and store.items["prod"].data == {"mapRoles": BASE}


def test_patch_without_response_is_replayed_on_stored_state() -> None:
    store = seeded()
    ops = [{"op": "replace", "path": "/data/mapRoles", "value": BASE + INTRUDER_YAML}]
    alerts, _, _ = run(delivery([audit_event("patch", "aud-1", request=ops, ts="2025-05-01T10:00:00.000000Z")]), store)
    assert alerts[0].title.startswith(f"{INTRUDER} added to system:masters")
    assert store.items["prod"].data == {"mapRoles": BASE + INTRUDER_YAML}


def test_truncated_line_is_medium_with_actor_and_unknown_state() -> None:
    line = json.dumps(update("aud-9", BASE + INTRUDER_YAML, 101), separators=(",", ":"))
    truncated = line[:900] + "[Truncated...]"
    alerts, store, summary = run(delivery([truncated]), seeded())
    assert summary["awsAuthEvents"] == 1
    assert alerts[0].severity is Severity.MEDIUM
    assert alerts[0].title.startswith(f"aws-auth update by {ADMIN} (session alice): content unknown")
    assert alerts[0].id == alert_id("aws-auth", "prod", entry_key(decode_awslogs(delivery([truncated])).events[0]))
    assert store.items["prod"].status == "unknown"


def test_truncated_line_about_another_object_is_dropped() -> None:
    other = audit_event("update", "x", request=configmap({"note": "mentions aws-auth"}), name="coredns")
    line = json.dumps(other, separators=(",", ":"))[:700] + "[Truncated...]"
    alerts, _, summary = run(delivery([line]), seeded())
    assert alerts == [] and summary["awsAuthEvents"] == 0


def test_mixed_batch_keeps_only_aws_auth_writes_in_order() -> None:
    messages: list[str | dict] = [
        audit_event("get", "r1", name="coredns"),
        "not json at all",
        audit_event("update", "c1", name="coredns", request=configmap({"Corefile": "aws-auth mention"})),
        audit_event("update", "n1", namespace="default", request=configmap({"mapRoles": INTRUDER_YAML})),
        audit_event("get", "g1", uri=URI),
        update("aud-1", BASE + VIEWER_YAML, 101, ts="2025-05-01T10:00:00.000000Z"),
        update("aud-2", BASE + VIEWER_YAML + INTRUDER_YAML, 102, ts="2025-05-01T10:01:00.000000Z"),
    ]
    alerts, store, summary = run(delivery(messages), seeded())
    assert summary["logEvents"] == 7 and summary["awsAuthEvents"] == 3 and summary["ignored"] == 1
    assert [a.severity for a in alerts] == [Severity.INFO, Severity.CRITICAL]
    assert store.items["prod"].resource_version == "102"


def test_control_message_and_foreign_log_group() -> None:
    alerts, _, summary = run(
        delivery(["CWL CONTROL MESSAGE: Checking health"], message_type="CONTROL_MESSAGE", log_group="")
    )
    assert alerts == [] and summary["messageType"] == "CONTROL_MESSAGE"
    with pytest.raises(PayloadError, match="not an EKS control-plane log group"):
        run(delivery([update("a", BASE, 1)], log_group="/aws/lambda/other"))


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"awslogs": {}},
        {"awslogs": {"data": "%%%"}},
        {"awslogs": {"data": "aGVsbG8="}},
        {"awslogs": {"data": "H4sIAAAAAAAA/8tIzcnJBwCGphA2BQAAAA=="}},
    ],
)
def test_malformed_payloads_raise_payload_error(event: dict) -> None:
    with pytest.raises(PayloadError):
        decode_awslogs(event)


def test_cluster_from_log_group_and_fast_path() -> None:
    assert cluster_from_log_group("/aws/eks/prod-1/cluster") == "prod-1"
    assert cluster_from_log_group("/aws/eks/prod/other") is None
    batch = decode_awslogs(delivery(["plain line", update("a", BASE, 1)]))
    assert [r.event["auditID"] for r in audit_records(batch) if r.event] == ["a"]


# ---------------------------------------------------------------------------- the sample events

EVENT_SEVERITY = {
    "masters_backdoor": Severity.CRITICAL,
    "node_role_added": Severity.INFO,
    "node_role_removed": Severity.CRITICAL,
    "deleted": Severity.CRITICAL,
    "invalid_yaml": Severity.HIGH,
    "capital_groups": Severity.CRITICAL,
    "deletecollection": Severity.CRITICAL,
    "dry_run": Severity.MEDIUM,
    "sso_masters": Severity.CRITICAL,
    "truncated": Severity.MEDIUM,
    "create_metadata": Severity.MEDIUM,
    "json_patch": Severity.CRITICAL,
    "strategic_merge": Severity.INFO,
    "apply_patch": Severity.INFO,
    "map_accounts": Severity.MEDIUM,
    "iam_path": Severity.MEDIUM,
    "mixed_batch": Severity.MEDIUM,
}


@pytest.mark.parametrize(("case", "severity"), sorted(EVENT_SEVERITY.items()))
def test_sample_events_have_their_documented_severity(case: str, severity: Severity, event_loader) -> None:
    alerts, _, _ = run(event_loader(f"aws_auth_{case}.json"))
    assert max(a.severity for a in alerts) is severity
    assert all(a.cluster == "prod" and a.kind == "aws-auth" for a in alerts)


def test_sample_event_titles(event_loader) -> None:
    titles = {case: run(event_loader(f"aws_auth_{case}.json"))[0][-1].title for case in EVENT_SEVERITY}
    intruder_by_alice = f"{INTRUDER} added to system:masters by {ADMIN} (session alice)"
    assert titles["masters_backdoor"] == intruder_by_alice
    assert titles["json_patch"] == intruder_by_alice
    assert titles["apply_patch"].startswith(f"arn:aws:iam::{ACCOUNT}:role/BreakGlass removed from system:masters")
    assert titles["strategic_merge"].startswith(f"arn:aws:iam::{ACCOUNT}:role/ReadOnly added to aws-auth")
    assert titles["mixed_batch"].startswith(f"attempt (denied): arn:aws:iam::{ACCOUNT}:role/Developer (session bob)")
    assert titles["iam_path"].startswith(f"dead system:masters mapping for arn:aws:iam::{ACCOUNT}:role/team/Developer")
    assert titles["invalid_yaml"].startswith("aws-auth mapRoles is unreadable after update")
    assert titles["capital_groups"] == intruder_by_alice
    assert (
        titles["deletecollection"].startswith("aws-auth deleted by")
        and "deletecollection" in titles["deletecollection"]
    )
    assert titles["dry_run"].startswith(f"attempt (dry run): {ADMIN} (session alice) tried to add {INTRUDER}")
    assert titles["sso_masters"].startswith("SSO permission set Breakglass in account 111122223333 added to")


def test_control_message_event(event_loader) -> None:
    alerts, _, summary = run(event_loader("aws_auth_control_message.json"))
    assert alerts == [] and summary["messageType"] == "CONTROL_MESSAGE"


def test_built_events_match_their_sources() -> None:
    from scripts.build_awslogs_events import build

    assert build(check=True) == 0
