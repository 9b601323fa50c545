"""A static world for judging the CloudTrail sample events without AWS: the kubectl instances, their
roles and profiles, one open session, working hours. The e2e suite and the demo map the sample
kubectl instance (`SAMPLE_KUBECTL_INSTANCE`) to the local world's."""

from __future__ import annotations

from eksguard import arns
from eksguard.eks_api.lookups import Lookups
from eksguard.expected_admins import ExpectedAdmins
from eksguard.hours import parse_hours
from eksguard.kubectl_hosts import KubectlInstance, KubectlInventory

ACCOUNT = "111122223333"
SAMPLE_KUBECTL_INSTANCE = "i-0b5c1a2d3e4f56789"
SAMPLE_SESSION = "alice-0f3c9a1b2d4e5f607"
KUBECTL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-prod"
KUBECTL_DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-dev"
PLATFORM_ADMINS = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_PlatformAdmin_*"
KUBECTL_ROLES = f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-*"
HOURS = "Mon-Fri 07:00-20:00"
ZONE = "Europe/Paris"
STACK_NAME = "eksguard"
WEBHOOK_SECRET_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:eksguard/slack-webhook-AbCdEf"
FILTER_DESTINATION = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:eksguard-AuditLogAlert-Xy12AbCd34Ef"
# The same world as the function's settings, for tests that run the real handler (kubectl instances,
# profiles and roles are then created in moto).
ENVIRONMENT = {
    "STOP_TAG_KEY": "kubectl-instance",
    "STOP_TAG_VALUE": "*",
    "CLUSTER_TAG_KEY": "eks-cluster",
    "EXPECTED_CLUSTER_ADMIN_ARNS": PLATFORM_ADMINS,
    "KUBECTL_ROLE_ARN_PATTERNS": KUBECTL_ROLES,
    "KUBECTL_SESSION_HOURS": HOURS,
    "KUBECTL_SESSION_TIMEZONE": ZONE,
    "EKSGUARD_STACK_NAME": STACK_NAME,
    "SLACK_WEBHOOK_SECRET_ARN": WEBHOOK_SECRET_ARN,
    "AUDIT_LOG_DESTINATION_ARN": FILTER_DESTINATION,
}

INVENTORY = KubectlInventory(
    (
        KubectlInstance(
            SAMPLE_KUBECTL_INSTANCE,
            "eu-west-1",
            "prod",
            {"kubectl-instance": "prod", "Name": "kubectl-prod"},
            "eksguard-kubectl-prod",
            (KUBECTL_ROLE,),
        ),
        KubectlInstance(
            "i-0d1e2f3a4b5c6d7e8",
            "eu-west-1",
            "dev",
            {"kubectl-instance": "dev", "Name": "kubectl-dev"},
            "eksguard-kubectl-dev",
            (KUBECTL_DEV_ROLE,),
        ),
    )
)
PROFILES = {
    "eksguard-kubectl-prod": (KUBECTL_ROLE,),
    "eksguard-kubectl-dev": (KUBECTL_DEV_ROLE,),
    "debug-tools": (f"arn:aws:iam::{ACCOUNT}:role/debug-tools",),
}
SESSIONS = {SAMPLE_SESSION: "i-0d1e2f3a4b5c6d7e8"}


def _path_of(principal: arns.IamPrincipal) -> str | None:
    if principal.name.lower().startswith("awsreservedsso_"):
        return "/aws-reserved/sso.amazonaws.com/eu-west-1/"
    return "/"


def world(inventory: KubectlInventory | None = None, **overrides: object) -> Lookups:
    """The sample world; `inventory=None` keeps the default, overrides replace Lookups fields."""
    chosen = INVENTORY if inventory is None else inventory
    admins = ExpectedAdmins([PLATFORM_ADMINS], [KUBECTL_ROLES], inventory=lambda: chosen, path_of=_path_of)
    fields: dict[str, object] = {
        "expected": admins,
        "profile_roles": lambda name: PROFILES.get(name, ()),
        "session_target": lambda region, session_id: SESSIONS.get(session_id),
        "hours": parse_hours(HOURS, ZONE),
        "filter_destination": FILTER_DESTINATION,
        "stack_name": STACK_NAME,
        "webhook_secret_arn": WEBHOOK_SECRET_ARN,
    }
    fields.update(overrides)
    return Lookups(**fields)  # type: ignore[arg-type]


def aim_at(event: dict[str, object], instance_ids: dict[str, str], account: str | None = None) -> dict[str, object]:
    """The sample event with its sample instance IDs (and account) replaced by a world's own."""
    import json

    text = json.dumps(event)
    for sample, real in instance_ids.items():
        text = text.replace(sample, real)
    if account:
        text = text.replace(ACCOUNT, account)
    aimed: dict[str, object] = json.loads(text)
    return aimed
