"""`sam local invoke` for every sample event in events/, against moto and the Slack stand-in in containers.

Each invocation runs the built function in the Lambda image with `--env-vars events/env.local.json`
on the `eksguard-local` network. Detector invocations get their own alert queue (and aws-auth
state table), so they run concurrently and each test reads back exactly what its event produced.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "events"
sys.path.insert(0, str(ROOT / "scripts"))

import local_stack  # noqa: E402
from seed_local_world import (  # noqa: E402
    ACCOUNT,
    CI_DEPLOYER,
    KubectlBox,
    World,
    client,
    instance_states,
    put_sessions,
    seed_spoke,
    spoke_instance_states,
    spoke_session,
)

from tests.cloudtrail_world import SAMPLE_KUBECTL_INSTANCE, aim_at  # noqa: E402

pytestmark = pytest.mark.e2e

SAM = str(ROOT / ".venv-sam" / "bin" / "sam")
INVOKE_TIMEOUT_SECONDS = 240
WORKERS = int(os.environ.get("EKSGUARD_E2E_WORKERS", "3"))
MOTO_IN_NETWORK = "http://eksguard-moto:5000"
ALL_EVENT_FILES = sorted(p.name for p in EVENTS_DIR.glob("*.json") if not p.name.startswith("env"))
# EKSGUARD_E2E_ONLY=<glob> invokes a subset while working on one function (CI runs them all).
EVENT_FILES = [e for e in ALL_EVENT_FILES if fnmatch(e, os.environ.get("EKSGUARD_E2E_ONLY") or "*")]

# Severities each detector event must queue (in any order); [] means no alert at all.
EKS_API_SEVERITY: dict[str, str | None] = {
    "eks_api_access_entry_custom_groups.json": "MEDIUM",
    "eks_api_access_entry_system_group_denied.json": "MEDIUM",
    "eks_api_admin_grant_denied.json": "MEDIUM",
    "eks_api_admin_policy_cluster_scope.json": "CRITICAL",
    "eks_api_admin_to_expected_admin.json": "CRITICAL",
    "eks_api_audit_logging_disabled.json": "HIGH",
    "eks_api_auth_mode_changed.json": "HIGH",
    "eks_api_cluster_admin_granted.json": "CRITICAL",
    "eks_api_create_cluster_hardened.json": "INFO",
    "eks_api_create_cluster_public.json": "HIGH",
    "eks_api_cross_account_entry.json": "MEDIUM",
    "eks_api_delete_access_entry.json": "INFO",
    "eks_api_delete_cluster.json": "INFO",
    "eks_api_disassociate_policy.json": "INFO",
    "eks_api_endpoint_private.json": "INFO",
    "eks_api_endpoint_public.json": "HIGH",
    "eks_api_kubectl_role_admin_dev.json": "CRITICAL",
    "eks_api_logging_enabled.json": "INFO",
    "eks_api_namespace_admin.json": "MEDIUM",
    "eks_api_unhandled_event.json": "INFO",
    "eks_api_update_access_entry_groups.json": "MEDIUM",
    "eks_api_view_policy.json": "INFO",
    "eks_api_admin_view_cluster.json": "HIGH",
    "eks_api_edit_cluster.json": "HIGH",
    "eks_api_admin_kube_system.json": "CRITICAL",
    "eks_api_identity_provider.json": "HIGH",
    "eks_api_identity_provider_removed.json": "INFO",
    "eks_api_pod_identity_kube_system.json": "MEDIUM",
    "eks_api_trail_stopped.json": "HIGH",
    "eks_api_trail_deleted.json": "HIGH",
    "eks_api_trail_global_events_off.json": "HIGH",
    "eks_api_event_selectors_no_management.json": "HIGH",
    "eks_api_event_selectors_exclude_eks.json": "HIGH",
    "eks_api_audit_subscription_deleted.json": "HIGH",
    "eks_api_audit_filter_rewritten.json": "HIGH",
    "eks_api_audit_log_group_deleted.json": "HIGH",
    "eks_api_ssh_key_other_instance.json": None,  # not a kubectl instance: no alert
    "eks_api_eksguard_rule_disabled.json": "HIGH",
    "eks_api_eksguard_function_throttled.json": "HIGH",
    "eks_api_eksguard_webhook_rewritten.json": "HIGH",
    "eks_api_eksguard_deploy.json": "INFO",  # CloudFormation acting on eksguard: a deploy, or another stack
    # aimed at the local world's kubectl instances and account (tests/cloudtrail_world.aim_at)
    "eks_api_kubectl_session.json": "INFO",
    "eks_api_kubectl_session_night.json": "MEDIUM",
    "eks_api_kubectl_session_resumed.json": "INFO",
    "eks_api_kubectl_send_command.json": "HIGH",
    "eks_api_kubectl_association_everywhere.json": "HIGH",
    "eks_api_kubectl_ssh_key.json": "HIGH",
    "eks_api_kubectl_user_data.json": "HIGH",
    "eks_api_kubectl_instance_profile.json": "HIGH",
    "eks_api_kubectl_role_handed_out.json": "HIGH",
    "eks_api_kubectl_role_trust.json": "HIGH",
    "eks_api_kubectl_tag_removed.json": "HIGH",
    "eks_api_kubectl_role_to_pods.json": "CRITICAL",
    "eks_api_kubectl_role_other_cluster.json": "CRITICAL",
}
AUDIT_LOG_SEVERITIES = {
    "aws_auth_apply_patch.json": ["INFO", "INFO"],
    "aws_auth_control_message.json": [],
    "aws_auth_create_metadata.json": ["MEDIUM"],
    "aws_auth_deleted.json": ["CRITICAL"],
    "aws_auth_iam_path.json": ["MEDIUM"],
    "aws_auth_invalid_yaml.json": ["HIGH"],
    "aws_auth_capital_groups.json": ["INFO", "CRITICAL"],
    "aws_auth_deletecollection.json": ["INFO", "CRITICAL"],
    "aws_auth_dry_run.json": ["INFO", "MEDIUM"],
    "aws_auth_sso_masters.json": ["INFO", "CRITICAL"],
    "aws_auth_json_patch.json": ["INFO", "CRITICAL"],
    "aws_auth_map_accounts.json": ["MEDIUM"],
    "aws_auth_masters_backdoor.json": ["INFO", "CRITICAL"],
    "aws_auth_mixed_batch.json": ["INFO", "MEDIUM"],
    "aws_auth_node_role_added.json": ["INFO"],
    "aws_auth_node_role_removed.json": ["INFO", "CRITICAL"],
    "aws_auth_strategic_merge.json": ["INFO", "INFO"],
    "aws_auth_truncated.json": ["MEDIUM"],
    "aws_auth_reserved_username.json": ["HIGH"],
    # a spoke's aws-auth edit through the hub's Kinesis stream (owner 111111111111, not the function's account)
    "audit_log_kinesis_spoke.json": ["INFO", "CRITICAL"],
    "rbac_aggregated_into_view.json": ["CRITICAL"],
    "rbac_binding_deleted.json": ["INFO"],
    "rbac_cluster_admin_backdoor.json": ["CRITICAL"],
    "rbac_denied.json": ["MEDIUM"],
    "rbac_dry_run.json": ["MEDIUM"],
    "rbac_eks_owned.json": ["INFO"],
    "rbac_expected_admin.json": ["INFO"],
    "rbac_group_binding.json": ["CRITICAL"],
    "rbac_json_patch.json": ["INFO", "CRITICAL"],
    "rbac_kube_system_rolebinding.json": ["CRITICAL"],
    "rbac_metadata_only.json": ["MEDIUM"],
    "rbac_namespace_admin.json": ["MEDIUM"],
    "rbac_role_became_admin.json": ["HIGH"],
    "rbac_truncated.json": ["HIGH"],
    "rbac_truncated_delete.json": ["INFO"],
    "rbac_truncated_denied.json": ["MEDIUM"],
    "rbac_unknown_role.json": ["MEDIUM"],
}


# A hub's functions with a spoke account (moto keeps it apart by the credentials an AssumeRole into it
# returns): its kubectl instances carry stop values `spoke-*`, so the organisation's stop run (StopTagValue
# `spoke-*`) leaves the hub's boxes to stop_schedule.json.
SPOKE = "444455556666"
SPOKE_NAME = "payments-prod"
ORG_EVENTS = {"stop_schedule_org.json", "eks_api_spoke_kubectl_ssh_key.json"}
EKS_API_SEVERITY["eks_api_spoke_kubectl_ssh_key.json"] = "HIGH"


# The seeded inventory world (scripts/seed_local_world.py inventory_world): in prod, ci-deployer is cluster
# admin through an RBAC binding no log showed (HIGH at a first inventory); dev refuses eksguard's reader.
INVENTORY_ALERTS = {
    "inventory_schedule.json": [("inventory-admin-found", "HIGH"), ("inventory-blind-spot", "HIGH")],
    "inventory_digest.json": [
        ("inventory-admin-found", "HIGH"),
        ("inventory-blind-spot", "HIGH"),
        ("inventory-digest", "HIGH"),
    ],
    "inventory_detector_request.json": [("inventory-admin-found", "HIGH")],
}


def function_for(event: str) -> str:
    if event.startswith("stop_"):
        return "StopInstancesFunction"
    if event.startswith("eks_api_"):
        return "EksApiAlertFunction"
    if event.startswith("audit_log_enrol"):
        return "AuditLogEnrolFunction"
    if event.startswith(("aws_auth_", "rbac_", "audit_log_kinesis_")):
        return "AuditLogAlertFunction"
    if event.startswith("slack_notifier"):
        return "SlackNotifierFunction"
    if event.startswith("inventory_"):
        return "InventoryFunction"
    raise AssertionError(f"{event}: no function takes this event; name it after its function")


def slug(event: str) -> str:
    return "e2e-" + re.sub(r"[^a-z0-9-]", "-", event.removesuffix(".json").lower())


@dataclass
class Invocation:
    event: str
    function: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def response(self) -> Any:
        lines = [line for line in self.stdout.strip().splitlines() if line.strip()]
        assert lines, f"{self.event}: no response on stdout\n{self.stderr[-3000:]}"
        return json.loads(lines[-1])


@dataclass
class Session:
    stack: local_stack.Stack
    world: World
    queues: dict[str, str]
    invocations: dict[str, Invocation]
    spoke_boxes: list[KubectlBox]


def _env_file(event: str, base: dict[str, Any], directory: Path) -> Path:
    """events/env.local.json with this event's own queue (and aws-auth state table)."""
    env = json.loads(json.dumps(base))
    env["Parameters"]["ALERT_QUEUE_URL"] = f"{MOTO_IN_NETWORK}/{ACCOUNT}/{slug(event)}"
    env.setdefault("AuditLogAlertFunction", {})["AUDIT_STATE_TABLE"] = slug(event)
    env.setdefault("EksApiAlertFunction", {})["AUDIT_STATE_TABLE"] = slug(event)  # access entries it records
    env.setdefault("InventoryFunction", {})["AUDIT_STATE_TABLE"] = slug(event)  # a first inventory each
    if event in ORG_EVENTS:
        function = env.setdefault(function_for(event), {})
        function.update({"SPOKE_ACCOUNTS": SPOKE, "ACCOUNT_NAMES": f"{SPOKE}={SPOKE_NAME}"})
        if function_for(event) == "StopInstancesFunction":
            function["STOP_TAG_VALUE"] = "spoke-*"
        else:
            function["KUBECTL_ROLE_ARN_PATTERNS"] = "arn:aws:iam::*:role/eksguard-kubectl-*"
    path = directory / f"{slug(event)}.env.json"
    path.write_text(json.dumps(env), encoding="utf-8")
    return path


def _event_file(event: str, world: World, directory: Path, spoke_boxes: list[KubectlBox]) -> Path:
    """The sample itself, or for kubectl-instance samples a copy aimed at the local world's instance and account
    (the spoke's instance for a spoke's call)."""
    if event.startswith("eks_api_spoke_"):
        sample = json.loads((EVENTS_DIR / event).read_text(encoding="utf-8"))
        prod = next(b for b in spoke_boxes if b.cluster == "prod")
        path = directory / event
        path.write_text(json.dumps(aim_at(sample, {SAMPLE_KUBECTL_INSTANCE: prod.instance_id})), encoding="utf-8")
        return path
    if not event.startswith("eks_api_kubectl_"):
        return EVENTS_DIR / event
    sample = json.loads((EVENTS_DIR / event).read_text(encoding="utf-8"))
    aimed = aim_at(sample, {SAMPLE_KUBECTL_INSTANCE: world.box("kubectl-prod-eu").instance_id}, world.account)
    path = directory / event
    path.write_text(json.dumps(aimed), encoding="utf-8")
    return path


def _invoke(event: str, env_file: Path, event_file: Path) -> Invocation:
    function = function_for(event)
    started = time.monotonic()
    command = [
        SAM,
        "local",
        "invoke",
        function,
        "--template",
        str(local_stack.LOCAL_TEMPLATE),
        "--event",
        str(event_file),
        "--env-vars",
        str(env_file),
        "--docker-network",
        local_stack.NETWORK,
        "--skip-pull-image",
        "--region",
        "eu-west-1",
    ]
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=INVOKE_TIMEOUT_SECONDS
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -1, str(exc.stdout or ""), f"timed out after {INVOKE_TIMEOUT_SECONDS}s"
    return Invocation(event, function, code, out, err, time.monotonic() - started)


def _prepare_resources(stack: local_stack.Stack) -> dict[str, str]:
    sqs = client("sqs", stack.moto_url)
    dynamodb = client("dynamodb", stack.moto_url)
    queues = {}
    for event in EVENT_FILES:
        queues[event] = sqs.create_queue(QueueName=slug(event))["QueueUrl"]
        if function_for(event) in ("AuditLogAlertFunction", "EksApiAlertFunction", "InventoryFunction"):
            dynamodb.create_table(
                TableName=slug(event),
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
            )
    return queues


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    assert local_stack.docker_available(), "no Docker engine answers: start dockerd (see docs/local.md)"
    for image in (local_stack.IMAGE, "public.ecr.aws/lambda/python:3.13-x86_64"):
        assert local_stack.image_available(image), f"{image} is missing: run `make local-image`"
    if not (os.environ.get("EKSGUARD_E2E_BUILT") and local_stack.BUILT_TEMPLATE.exists()):
        subprocess.run(
            [SAM, "build", "--template-file", "template.yaml"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=600,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        )
    local_stack.write_local_template()
    stack = local_stack.up(moto_port=_free_port(), slack_port=_free_port())
    try:
        world = local_stack.seed(stack)
        spoke_boxes = seed_spoke(stack.moto_url, SPOKE, stop_value_prefix="spoke-")
        busy = next(b for b in spoke_boxes if b.expected_state == "running")
        put_sessions(stack.moto_url, [*world.sessions, spoke_session(SPOKE, busy)])
        queues = _prepare_resources(stack)
        base = json.loads((EVENTS_DIR / "env.local.json").read_text(encoding="utf-8"))
        env_dir = tmp_path_factory.mktemp("env")
        files = {event: _env_file(event, base, env_dir) for event in EVENT_FILES}
        events = {event: _event_file(event, world, env_dir, spoke_boxes) for event in EVENT_FILES}
        # The first invocation builds SAM's image with the layer; the rest reuse it concurrently.
        first, *rest = EVENT_FILES
        invocations = {first: _invoke(first, files[first], events[first])}
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for result in pool.map(lambda e: _invoke(e, files[e], events[e]), rest):
                invocations[result.event] = result
        yield Session(stack, world, queues, invocations, spoke_boxes)
    finally:
        local_stack.down()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _queued(session: Session, event: str) -> list[dict[str, Any]]:
    sqs = client("sqs", session.stack.moto_url)
    alerts: dict[str, dict[str, Any]] = {}
    for _ in range(10):
        batch = (
            sqs.receive_message(
                QueueUrl=session.queues[event],
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
            ).get("Messages")
            or []
        )
        fresh = [m for m in batch if m["MessageId"] not in alerts]
        if not fresh:
            break
        for message in fresh:
            body = json.loads(message["Body"])
            assert message["MessageAttributes"]["severity"]["StringValue"] == body["severity"]
            alerts[message["MessageId"]] = body
    return list(alerts.values())


def test_every_event_has_an_expectation() -> None:
    handled = (
        set(EKS_API_SEVERITY)
        | set(AUDIT_LOG_SEVERITIES)
        | set(INVENTORY_ALERTS)
        | {"stop_schedule.json", "stop_schedule_org.json", "slack_notifier_sqs.json", "audit_log_enrol_schedule.json"}
    )
    assert set(ALL_EVENT_FILES) == handled, "add the new sample event to the e2e expectations"


@pytest.mark.parametrize("event", EVENT_FILES)
def test_sam_local_invoke(e2e: Session, event: str) -> None:
    invocation = e2e.invocations[event]
    assert invocation.returncode == 0, f"{event}: sam local invoke failed\n{invocation.stderr[-4000:]}"
    response = invocation.response
    assert not (isinstance(response, dict) and "errorType" in response), f"{event}: {response}"
    function = invocation.function

    if event == "stop_schedule_org.json":
        # the hub's run over its own account and the spoke: only the spoke's boxes carry `spoke-*` values
        states = spoke_instance_states(e2e.stack.moto_url, SPOKE, e2e.spoke_boxes)
        for box in e2e.spoke_boxes:
            assert states[box.name] in (box.expected_state, box.expected_state.replace("ped", "ping")), (
                f"spoke {box.name} ({box.why}) is {states[box.name]}"
            )
        assert response["totals"]["stopped"] == 1, response["totals"]
        assert response["accounts"][f"{SPOKE} ({SPOKE_NAME})"] is None, response["accounts"]
        spoke_regions = [r for r in response["regions"] if r.get("account") == SPOKE]
        assert [i["instance_id"] for r in spoke_regions for i in r["stopped"]] == [
            b.instance_id for b in e2e.spoke_boxes if b.expected_state == "stopped"
        ]
        (summary,) = _queued(e2e, event)
        assert f"{SPOKE} ({SPOKE_NAME})" in dict(summary["facts"])["Accounts"]
    elif function == "StopInstancesFunction":
        states = instance_states(e2e.stack.moto_url, e2e.world.boxes)
        for box in e2e.world.boxes:
            assert states[box.name] in (box.expected_state, box.expected_state.replace("ped", "ping")), (
                f"{box.name} ({box.why}) is {states[box.name]}"
            )
        assert response["totals"] == {"stopped": 2, "would_stop": 0, "skipped": 2, "failed": 0}
        assert [a["severity"] for a in _queued(e2e, event)] == ["INFO"]
    elif function == "EksApiAlertFunction":
        alerts = _queued(e2e, event)
        severity = EKS_API_SEVERITY[event]
        if severity is None:
            assert alerts == [] and response["status"] == "skipped", response
        else:
            assert [a["severity"] for a in alerts] == [severity], ([a["title"] for a in alerts], response)
            assert response["status"] == "alerted" and response["alert_id"] == alerts[0]["id"]
            if event in ORG_EVENTS:  # judged in the spoke: its kubectl instance, its account, its name
                assert alerts[0]["account"] == SPOKE and alerts[0]["account_name"] == SPOKE_NAME, alerts[0]
                assert "kubectl instance of prod" in alerts[0]["title"], alerts[0]["title"]
    elif function == "AuditLogAlertFunction":
        alerts = _queued(e2e, event)
        assert Counter(a["severity"] for a in alerts) == Counter(AUDIT_LOG_SEVERITIES[event]), [
            (a["severity"], a["title"]) for a in alerts
        ]
        if event.startswith("audit_log_kinesis_"):
            assert response == {"batchItemFailures": []}, response
            assert {a["account"] for a in alerts} == {"111111111111"}
        elif not AUDIT_LOG_SEVERITIES[event]:
            assert response["status"] == "ok"
    elif function == "AuditLogEnrolFunction":
        assert response["status"] == "ok"
        logs = client("logs", e2e.stack.moto_url)
        for cluster in ("dev", "prod"):
            filters = logs.describe_subscription_filters(logGroupName=f"/aws/eks/{cluster}/cluster")[
                "subscriptionFilters"
            ]
            assert [f["destinationArn"] for f in filters] == [e2e.world.audit_function_arn]
    elif function == "InventoryFunction":
        alerts = _queued(e2e, event)
        assert sorted((a["kind"], a["severity"]) for a in alerts) == sorted(INVENTORY_ALERTS[event]), [
            (a["kind"], a["title"]) for a in alerts
        ]
        found = [a for a in alerts if a["kind"] == "inventory-admin-found"]
        assert [a["principal"] for a in found] == [CI_DEPLOYER] and found[0]["cluster"] == "prod"
        assert "ClusterRoleBinding deployers" in dict(found[0]["facts"])["Doors"]
        assert response["status"] == "ok" and response["clusters"] == (1 if "detector" in event else 2)
    elif function == "SlackNotifierFunction":
        assert response == {"batchItemFailures": []}
        sent = json.loads((EVENTS_DIR / event).read_text(encoding="utf-8"))["Records"]
        expected = sorted(json.loads(r["body"])["severity"] for r in sent)
        texts = [str(p.get("text", "")) for p in local_stack.slack_messages(e2e.stack)]
        assert sorted(t.split("]", 1)[0].lstrip("[") for t in texts) == expected, texts
        assert all(p.get("blocks") for p in local_stack.slack_messages(e2e.stack))
