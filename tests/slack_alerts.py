"""Sample alerts of every kind the notifier renders (stop summary, EKS API, aws-auth, enrolment)."""

from __future__ import annotations

from eksguard.alerts import Actor, Alert, Fact, SourceRef, alert_id
from eksguard.severity import Severity

INTRUDER = "arn:aws:iam::111122223333:role/intruder"


def eks_api_alert(**overrides: object) -> Alert:
    alert = Alert(
        id=alert_id("cloudtrail", "6f1c2a9e-0d5b-4a8f-9c1e-3b7d2f4e5a60"),
        kind="eks-api",
        severity=Severity.CRITICAL,
        title=f"{INTRUDER} granted AmazonEKSClusterAdminPolicy (cluster scope)",
        cluster="prod",
        principal=INTRUDER,
        actor=Actor(
            arn="arn:aws:iam::111122223333:role/Admin",
            session_name="jdoe",
            source_ip="203.0.113.10",
            user_agent="aws-cli/2.17.0 md/awscrt#0.20.11 ua/2.0 os/linux#6.1",
        ),
        account="111122223333",
        region="eu-west-1",
        time="2025-11-20T09:15:42Z",
        summary="AssociateAccessPolicy gave cluster-admin to a principal that is not an expected admin.",
        facts=(
            Fact("Event", "AssociateAccessPolicy"),
            Fact("Policy", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"),
            Fact("Access scope", "cluster"),
        ),
        source=SourceRef(
            kind="cloudtrail",
            description="CloudTrail event 6f1c2a9e-0d5b-4a8f-9c1e-3b7d2f4e5a60",
            url="https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/6f1c2a9e",
        ),
    )
    return _apply(alert, overrides)


def aws_auth_alert(**overrides: object) -> Alert:
    diff = "\n".join(
        [
            "+ - rolearn: arn:aws:iam::111122223333:role/intruder",
            "+   username: intruder",
            "+   groups:",
            "+     - system:masters",
        ]
    )
    alert = Alert(
        id=alert_id("audit", "a1b2c3d4-e5f6-4711-8899-aabbccddeeff"),
        kind="aws-auth",
        severity=Severity.CRITICAL,
        title=f"{INTRUDER} added to system:masters by kubernetes-admin",
        cluster="prod",
        principal=INTRUDER,
        actor=Actor(
            arn="arn:aws:iam::111122223333:role/Admin",
            username="kubernetes-admin",
            session_name="mallory",
            source_ip="198.51.100.7",
            user_agent="kubectl/v1.31.0 (linux/amd64) kubernetes/abc1234",
        ),
        account="111122223333",
        region="eu-west-1",
        time="2025-11-20T10:02:03Z",
        summary="aws-auth mapRoles changed: 1 mapping added with group system:masters.",
        facts=(
            Fact("Verb", "patch"),
            Fact("Field manager", "kubectl-edit"),
            Fact("mapRoles diff", diff),
        ),
        source=SourceRef(
            kind="eks-audit",
            description="/aws/eks/prod/cluster kube-apiserver-audit-0123 auditID a1b2c3d4",
            url="https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups",
        ),
    )
    return _apply(alert, overrides)


def stop_summary_alert(**overrides: object) -> Alert:
    alert = Alert(
        id=alert_id("stop-run", "2025-11-20T19:00:00Z"),
        kind="stop-summary",
        severity=Severity.MEDIUM,
        title="Stopped 3 kubectl instances; 1 could not be stopped",
        account="111122223333",
        region="eu-west-1",
        time="2025-11-20T19:00:05Z",
        summary="Scheduled stop run: 3 stopped, 1 skipped (KeepAliveUntil), 1 failed (OperationNotPermitted).",
        facts=(
            Fact("Stopped", "i-0a1b2c3d4e5f60718, i-0a1b2c3d4e5f60719, i-0a1b2c3d4e5f60720"),
            Fact("Skipped", "i-0123456789abcdef0 (KeepAliveUntil 2025-11-21T08:00Z)"),
            Fact("Failed", "i-0fedcba9876543210: OperationNotPermitted (disableApiStop)"),
        ),
        source=SourceRef(kind="scheduler", description="eksguard stop run 2025-11-20T19:00Z"),
    )
    return _apply(alert, overrides)


def enrolment_alert(**overrides: object) -> Alert:
    alert = Alert(
        id=alert_id("enrol", "prod", "2025-11-20T11"),
        kind="enrolment",
        severity=Severity.HIGH,
        title="Audit logging is off on cluster prod: aws-auth changes cannot be seen",
        cluster="prod",
        account="111122223333",
        region="eu-west-1",
        time="2025-11-20T11:00:00Z",
        summary="Control plane audit logging is disabled; enable the audit log type so aws-auth edits are detected.",
        facts=(Fact("Log group", "/aws/eks/prod/cluster"), Fact("Missing log type", "audit")),
        source=SourceRef(kind="enrolment", description="eksguard audit-log enrolment run"),
    )
    return _apply(alert, overrides)


def info_alert(**overrides: object) -> Alert:
    alert = Alert(
        id=alert_id("cloudtrail", "info-0001"),
        kind="eks-api",
        severity=Severity.INFO,
        title="arn:aws:iam::111122223333:role/viewer granted AmazonEKSViewPolicy (namespace scope)",
        cluster="dev",
        principal="arn:aws:iam::111122223333:role/viewer",
        time="2025-11-20T12:00:00Z",
    )
    return _apply(alert, overrides)


def rbac_alert(**overrides: object) -> Alert:
    """A real RBAC alert: the kubectl-instance backdoor sample through the judge."""
    from tests.rbac_harness import World
    from tests.rbac_support import audit_entry, recorded_write

    (alert,) = World().alerts(audit_entry(recorded_write("crb_create_user")))
    return _apply(alert, overrides)


ALL_KINDS = {
    "eks-api": eks_api_alert,
    "aws-auth": aws_auth_alert,
    "rbac": rbac_alert,
    "stop-summary": stop_summary_alert,
    "enrolment": enrolment_alert,
}


def _apply(alert: Alert, overrides: dict[str, object]) -> Alert:
    if not overrides:
        return alert
    from dataclasses import replace

    return replace(alert, **overrides)  # type: ignore[arg-type]
