"""Every CloudTrail sample event of events/ judged against a static world: severity and deciding rule.

The record shapes follow real CloudTrail records (EC2 request wrappers, SSM redactions, URL-encoded
EKS path parameters, assumed-role identities); docs/eks-api-alerts.md cites where each comes from.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard.eks_api import assess_event
from eksguard.severity import Severity
from tests.cloudtrail_world import world
from tests.conftest import EVENTS_DIR

# sample -> (severity, rule that decides it); None: no alert (nothing eksguard watches)
SAMPLES: dict[str, tuple[Severity, str] | None] = {
    "eks_api_admin_view_cluster.json": (Severity.HIGH, "cluster-wide-admin-view"),
    "eks_api_edit_cluster.json": (Severity.HIGH, "cluster-wide-edit"),
    "eks_api_admin_kube_system.json": (Severity.CRITICAL, "kube-system-admin"),
    "eks_api_identity_provider.json": (Severity.HIGH, "identity-provider-associated"),
    "eks_api_identity_provider_removed.json": (Severity.INFO, "identity-provider-disassociated"),
    "eks_api_pod_identity_kube_system.json": (Severity.MEDIUM, "kube-system-pod-role"),
    "eks_api_kubectl_role_to_pods.json": (Severity.CRITICAL, "admin-role-to-pods"),
    "eks_api_kubectl_role_other_cluster.json": (Severity.CRITICAL, "kubectl-role-on-other-cluster"),
    "eks_api_trail_stopped.json": (Severity.HIGH, "trail-stopped"),
    "eks_api_trail_deleted.json": (Severity.HIGH, "trail-stopped"),
    "eks_api_trail_global_events_off.json": (Severity.HIGH, "trail-coverage-reduced"),
    "eks_api_event_selectors_no_management.json": (Severity.HIGH, "management-events-not-logged"),
    "eks_api_event_selectors_exclude_eks.json": (Severity.HIGH, "management-events-not-logged"),
    "eks_api_audit_subscription_deleted.json": (Severity.HIGH, "audit-subscription-deleted"),
    "eks_api_audit_filter_rewritten.json": (Severity.HIGH, "audit-filter-rewritten"),
    "eks_api_audit_log_group_deleted.json": (Severity.HIGH, "audit-log-group-deleted"),
    "eks_api_kubectl_session.json": (Severity.INFO, "kubectl-session"),
    "eks_api_kubectl_session_night.json": (Severity.MEDIUM, "kubectl-session"),
    "eks_api_kubectl_session_resumed.json": (Severity.INFO, "kubectl-session"),
    "eks_api_kubectl_send_command.json": (Severity.HIGH, "kubectl-command"),
    "eks_api_kubectl_association_everywhere.json": (Severity.HIGH, "kubectl-command"),
    "eks_api_kubectl_ssh_key.json": (Severity.HIGH, "kubectl-ssh-key"),
    "eks_api_kubectl_user_data.json": (Severity.HIGH, "kubectl-user-data"),
    "eks_api_kubectl_instance_profile.json": (Severity.HIGH, "kubectl-instance-profile"),
    "eks_api_kubectl_role_handed_out.json": (Severity.HIGH, "kubectl-role-handed-out"),
    "eks_api_kubectl_role_trust.json": (Severity.HIGH, "admin-role-changed"),
    "eks_api_kubectl_tag_removed.json": (Severity.HIGH, "kubectl-tag-removed"),
    "eks_api_ssh_key_other_instance.json": None,
}


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample(name: str) -> None:
    assessment = assess_event(load(name), world())
    expected = SAMPLES[name]
    if expected is None:
        assert assessment.alert is None, assessment.alert and assessment.alert.title
        return
    severity, rule = expected
    assert assessment.alert is not None
    assert (assessment.alert.severity, assessment.findings[0].rule) == (severity, rule), assessment.alert.title
