"""What the CloudTrail rules may ask beyond the record: expected admins, kubectl instances, settings.

Pure data plus injected callables, so rule tests pass static answers and the handler passes
the cached, bounded AWS lookups (`from_settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from eksguard import aws, kubectl_hosts
from eksguard.audit_log.enrol import FILTER_PATTERN
from eksguard.config import Settings
from eksguard.expected_admins import ExpectedAdmins, expected_admins_from_settings
from eksguard.hours import HoursError, WorkingHours, parse_hours

if TYPE_CHECKING:
    from eksguard.rbac.admins import AdminSubjects

logger = Logger(child=True)


@dataclass(frozen=True)
class Lookups:
    expected: ExpectedAdmins | None = None
    profile_roles: Callable[[str], tuple[str, ...]] | None = None
    session_target: Callable[[str, str], str | None] | None = None
    # user names and groups that RBAC bindings seen in the audit log make cluster admin, per cluster state
    # key (accounts.cluster_key of the cluster and the event's account)
    rbac_admins: Callable[[str], AdminSubjects] | None = None
    stop_tag_key: str = "kubectl-instance"
    cluster_tag_key: str = "eks-cluster"
    # eksguard's own subscription filter on EKS audit log groups
    filter_name: str = "eksguard-aws-auth"
    filter_pattern: str = FILTER_PATTERN
    filter_destination: str | None = None
    hours: WorkingHours | None = None
    hours_error: str | None = None
    # eksguard's own resources
    stack_name: str | None = None
    webhook_secret_arn: str | None = None
    # the role a hub assumes in its spokes (spoke/template.yaml): a change to it is a change to eksguard
    spoke_role_name: str | None = None


def session_target(region: str, session_id: str) -> str | None:
    """The target (instance ID) of an SSM session, for ResumeSession whose record names only the session.

    Not cached: a resumed session is rare and its answer is fixed once found.
    """
    ssm = aws.lookup_client("ssm", region)
    for state in ("Active", "History"):
        filters = [{"key": "SessionId", "value": session_id}]
        page = kubectl_hosts.call(
            f"DescribeSessions {session_id} in {region}",
            lambda: ssm.describe_sessions(State=state, Filters=filters),  # noqa: B023 (called at once)
        )
        for session in page.get("Sessions") or []:
            if session.get("SessionId") == session_id and session.get("Target"):
                return str(session["Target"])
    return None


def from_settings(settings: Settings) -> Lookups:
    hours: WorkingHours | None = None
    hours_error: str | None = None
    try:
        hours = parse_hours(settings.kubectl_session_hours, settings.kubectl_session_timezone)
    except HoursError as exc:
        hours_error = f"KUBECTL_SESSION_HOURS not usable ({exc}); every session is treated as outside hours"
        logger.error("kubectl_session_hours_invalid", extra={"error": str(exc)})
    table = settings.audit_state_table

    def rbac_admins(key: str) -> AdminSubjects:
        # Imported on first use: only access-entry events with Kubernetes groups need the RBAC
        # judge's view, and it costs ~30 ms of every cold start otherwise.
        from eksguard.rbac.admins import AdminSubjects, admin_subjects
        from eksguard.rbac.state import read_state

        if not table:
            return AdminSubjects()
        aws.LookupBudget.check(f"RBAC state of {key}")
        # The state table is the hub's; `key` names the record of the account the event happened in.
        with aws.at_home():
            return admin_subjects(read_state(table, settings.region, key, lookup=True))

    return Lookups(
        expected=expected_admins_from_settings(settings),
        rbac_admins=rbac_admins,
        profile_roles=lambda profile: kubectl_hosts.profile_roles(settings, profile),
        session_target=session_target,
        stop_tag_key=settings.stop_tag_key,
        cluster_tag_key=settings.cluster_tag_key,
        filter_name=settings.audit_filter_name,
        filter_destination=settings.audit_destination_arn,
        hours=hours,
        hours_error=hours_error,
        stack_name=settings.stack_name,
        webhook_secret_arn=settings.slack_webhook_secret_arn,
        spoke_role_name=settings.spoke_role_name if settings.multi_account else None,
    )
