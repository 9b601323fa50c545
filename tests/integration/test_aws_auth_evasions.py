"""Walk-arounds of the aws-auth alerts, each through the real handler against moto (DynamoDB state,
SQS queue) and each line checked against the installed subscription filter pattern itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard.audit_log.enrol import FILTER_PATTERN
from tests.aws_auth_support import (
    ADMIN,
    BASE,
    INTRUDER,
    INTRUDER_YAML,
    URI,
    VIEWER_YAML,
    audit_event,
    configmap,
    delivery,
    role,
    update,
)
from tests.cwl_filter import matches
from tests.integration import test_audit_log_alert_handler as handler_tests
from tests.integration.test_audit_log_alert_handler import invoke, queued

env = handler_tests.env  # the same moto fixture: state table + alert queue
lambda_context = handler_tests.lambda_context  # the function runs in the clusters' own account
COLLECTION_URI = "/api/v1/namespaces/kube-system/configmaps"


def send(events: list[Any], context: Any, stream: str = "kube-apiserver-audit-aaaa") -> dict[str, Any]:
    for event in events:
        line = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
        assert matches(FILTER_PATTERN, line), f"the subscription filter would not forward {line[:200]}"
    return invoke(delivery(list(events), log_stream=stream), context)


def stored(env: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = env["ddb"].get_item(TableName="aws-auth-state", Key={"cluster": {"S": "prod"}})["Item"]
    return item


def seed(context: Any) -> None:
    send([update("seed", BASE, 100, ts="2025-05-01T09:00:00.000000Z")], context)


def test_capital_groups_key_is_critical_and_named(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    sneaky = BASE + f"- rolearn: {INTRUDER}\n  Groups: [system:masters]\n"
    send([update("aud-1", sneaky, 101)], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["principal"] == INTRUDER
    assert alert["title"].startswith(f"{INTRUDER} added to system:masters by {ADMIN}")


def test_broken_sibling_does_not_hide_the_intruder_nor_cry_lockout(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    viewer_as_string = VIEWER_YAML.replace("  groups:\n    - eksguard:viewers\n", "  groups: eksguard:viewers\n")
    send([update("aud-1", BASE + viewer_as_string + INTRUDER_YAML, 101)], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["principal"] == INTRUDER
    assert "locked out" not in json.dumps(alert) and "broken" not in alert["title"]


def test_blank_map_users_is_not_a_lockout(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    send([update("aud-1", BASE, 101, mapUsers='""')], lambda_context)
    assert queued(env) == []


def test_dry_run_is_a_medium_attempt_and_never_touches_state(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    data = {"mapRoles": BASE + INTRUDER_YAML}
    dry = audit_event(
        "update", "aud-dry", request=configmap(data, 100), response=configmap(data, 100), uri=URI + "?dryRun=All"
    )
    send([dry], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "MEDIUM" and alert["title"].startswith("attempt (dry run):")
    assert INTRUDER in alert["title"] and "added to" not in alert["title"]
    assert stored(env)["rv_num"]["N"] == "100"
    send([update("aud-real", BASE + INTRUDER_YAML, 101, ts="2025-05-01T11:00:00.000000Z")], lambda_context)
    (real,) = queued(env)
    assert real["severity"] == "CRITICAL" and real["title"].startswith(f"{INTRUDER} added to system:masters")


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("?fieldSelector=metadata.name%3Daws-auth", "aws-auth deleted by"),
        ("", "aws-auth deleted by"),
        ("?labelSelector=app%3Dx", "aws-auth possibly deleted by"),
    ],
)
def test_deletecollection_at_metadata_level_is_critical(env, lambda_context, query: str, title: str) -> None:
    seed(lambda_context)
    queued(env)
    event = audit_event("deletecollection", "aud-dc", level="Metadata", uri=COLLECTION_URI + query, name="")
    del event["objectRef"]["name"]
    send([event], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["title"].startswith(title)
    assert stored(env)["status"]["S"] in ("deleted", "unknown")


def test_deletecollection_that_rules_aws_auth_out_is_ignored(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    event = audit_event(
        "deletecollection", "aud-dc", level="Metadata", uri=COLLECTION_URI + "?fieldSelector=metadata.name%3Dother"
    )
    del event["objectRef"]["name"]
    send([event], lambda_context)
    assert queued(env) == [] and stored(env)["status"]["S"] == "present"


def test_foreign_api_group_never_touches_state(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    fake = update("aud-crd", INTRUDER_YAML, 101)
    fake["objectRef"]["apiGroup"] = "evil.example.com"
    fake["objectRef"]["apiVersion"] = "v1"
    invoke(delivery([fake]), lambda_context)
    assert queued(env) == []
    item = stored(env)
    assert item["rv_num"]["N"] == "100" and INTRUDER not in item["parsed"]["S"]


def test_octal_looking_account_is_named_as_written(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    send([update("aud-1", BASE, 101, mapAccounts="- 012345670123\n")], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "MEDIUM" and "account 012345670123 added" in alert["title"]


def test_sso_permission_set_in_masters_is_named(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    sso = "- sso:\n    permissionSetName: Breakglass\n    accountID: '111122223333'\n  groups:\n    - system:masters\n"
    send([update("aud-1", BASE + sso, 101)], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL"
    assert alert["title"].startswith("SSO permission set Breakglass in account 111122223333 added to system:masters")
    assert alert["principal"] == "arn:aws:iam::111122223333:role/AWSReservedSSO_Breakglass_*"


def test_out_of_order_streams_do_not_blame_the_wrong_person(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    mallory = update("aud-m", BASE + INTRUDER_YAML, 101, ts="2025-05-01T10:00:00.000000Z")
    mallory["user"]["extra"]["arn"] = ["arn:aws:sts::111122223333:assumed-role/Admin/mallory"]
    mallory["user"]["extra"]["sessionName"] = ["mallory"]
    bob_roles = BASE + INTRUDER_YAML + role("arn:aws:iam::111122223333:role/ReadOnly", "viewers")
    bob = update("aud-b", bob_roles, 102, ts="2025-05-01T10:01:00.000000Z")
    bob["user"]["extra"]["arn"] = ["arn:aws:sts::111122223333:assumed-role/Admin/bob"]
    bob["user"]["extra"]["sessionName"] = ["bob"]
    send([bob], lambda_context, stream="kube-apiserver-audit-bbbb")  # bob's stream arrives first
    (first,) = queued(env)
    assert first["severity"] == "CRITICAL"
    assert "last write by" in first["title"] and "replaced version 101" in first["title"]
    assert not first["title"].endswith("by arn:aws:iam::111122223333:role/Admin (session bob)")
    assert any(fact[0] == "Note" and fact[1].startswith("actor uncertain") for fact in first["facts"])
    send([mallory], lambda_context, stream="kube-apiserver-audit-aaaa")
    (late,) = queued(env)
    # the version mallory's write replaced (100) is in the stored history: exact diff, exact blame
    assert late["severity"] == "CRITICAL"
    assert late["title"] == f"{INTRUDER} added to system:masters by {ADMIN} (session mallory)"
    assert stored(env)["rv_num"]["N"] == "102"


def test_a_reused_audit_id_does_not_pass_a_real_write_off_as_a_redelivery(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    data = {"mapRoles": BASE + INTRUDER_YAML}
    dry = audit_event("patch", "chosen", request={"data": data}, response=configmap(data, 100), uri=URI + "?dryRun=All")
    real = audit_event("patch", "chosen", request={"data": data}, response=configmap(data, 101))
    send([dry, real], lambda_context)
    severities = sorted(a["severity"] for a in queued(env))
    assert severities == ["CRITICAL", "MEDIUM"]
    assert stored(env)["rv_num"]["N"] == "101"


def test_delete_options_body_wins_over_the_dry_run_query(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    body = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
    delete = audit_event("delete", "aud-del", request=body, uri=URI + "?dryRun=All")
    send([delete], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["title"].startswith("aws-auth deleted by")
    assert stored(env)["status"]["S"] == "deleted"


def test_dry_run_query_at_metadata_level_is_not_proof_for_a_delete(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    delete = audit_event("delete", "aud-del", level="Metadata", uri=URI + "?dryRun=All")
    send([delete], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["title"].startswith("aws-auth possibly deleted")


def test_a_selector_with_a_space_is_read_as_the_api_server_reads_it(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    event = audit_event(
        "deletecollection",
        "aud-dc",
        level="Metadata",
        uri=COLLECTION_URI + "?fieldSelector=metadata.name%21%3D%20aws-auth",
    )
    del event["objectRef"]["name"]
    send([event], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["title"].startswith("aws-auth deleted by")


def test_json_python_cannot_load_does_not_fail_the_delivery(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    deep = audit_event("patch", "aud-deep", request={"data": {"x": "y"}})
    line = json.dumps(deep, separators=(",", ":")).replace('"data":{"x":"y"}', '"x":' + "[" * 1500 + "]" * 1500)
    backdoor = update("aud-b", BASE + INTRUDER_YAML, 101)
    result = send([line, backdoor], lambda_context)
    assert result["status"] == "ok"
    severities = sorted(a["severity"] for a in queued(env))
    assert severities == ["CRITICAL", "MEDIUM"]


def test_a_dry_run_cut_off_by_truncation_is_not_trusted(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    data = {"mapRoles": BASE + INTRUDER_YAML}
    patch = audit_event("patch", "aud-t", request={"data": data}, response=configmap(data, 101))
    patch["requestURI"] = URI + "?pad=" + "p" * 3000 + "&dryRun=All;"
    line = json.dumps(patch, separators=(",", ":"))
    cut = line[: line.index("&dryRun=All;") + len("&dryRun=All")] + "[Truncated...]"
    send([cut], lambda_context)
    (alert,) = queued(env)
    assert alert["severity"] == "MEDIUM" and "dry run" not in alert["title"]
    assert stored(env)["status"]["S"] == "unknown"


def test_an_unconditional_write_that_does_not_follow_from_the_stored_version_is_uncertain(env, lambda_context) -> None:
    seed(lambda_context)
    queued(env)
    # mallory's write (rv 101) is still on its way; bob's merge patch names no version (rv 102)
    after = {"mapRoles": BASE + INTRUDER_YAML, "mapUsers": ""}
    bob = audit_event("patch", "aud-bob", request={"data": {"mapUsers": ""}}, response=configmap(after, 102))
    send([bob], lambda_context, stream="kube-apiserver-audit-bbbb")
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and "last write by" in alert["title"]
    assert any(fact[0] == "Note" and fact[1].startswith("actor uncertain") for fact in alert["facts"])
