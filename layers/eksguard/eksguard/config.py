"""Typed settings read once from the environment: the one place that names every env var.

The SAM template sets these variables from stack parameters; tests and `sam local invoke`
set them directly. Parsing is strict: a bad value is a clear configuration error at cold
start rather than a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from eksguard.severity import Severity

# Environment variable names (kept here so nothing else spells them).
ENV_STOP_TAG_KEY = "STOP_TAG_KEY"
ENV_STOP_TAG_VALUE = "STOP_TAG_VALUE"
ENV_STOP_REGIONS = "STOP_REGIONS"
ENV_STOP_GRACE_MINUTES = "STOP_GRACE_MINUTES"
ENV_KEEP_ALIVE_TAG_KEY = "KEEP_ALIVE_TAG_KEY"
ENV_MAX_KEEP_ALIVE_DAYS = "MAX_KEEP_ALIVE_DAYS"
ENV_ORPHANED_SESSION_HOURS = "ORPHANED_SESSION_HOURS"
ENV_SCHEDULE_TIMEZONE = "SCHEDULE_TIMEZONE"
ENV_CLUSTER_TAG_KEY = "CLUSTER_TAG_KEY"
ENV_DRY_RUN = "DRY_RUN"
ENV_ALERT_QUEUE_URL = "ALERT_QUEUE_URL"
ENV_ALERT_MIN_SEVERITY = "ALERT_MIN_SEVERITY"
ENV_SLACK_WEBHOOK_SECRET_ARN = "SLACK_WEBHOOK_SECRET_ARN"
ENV_SLACK_CRITICAL_MENTION = "SLACK_CRITICAL_MENTION"
ENV_IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
ENV_EXPECTED_ADMIN_ARNS = "EXPECTED_CLUSTER_ADMIN_ARNS"
ENV_KUBECTL_ROLE_PATTERNS = "KUBECTL_ROLE_ARN_PATTERNS"
ENV_KUBECTL_SESSION_HOURS = "KUBECTL_SESSION_HOURS"
ENV_KUBECTL_SESSION_TIMEZONE = "KUBECTL_SESSION_TIMEZONE"
ENV_AUDIT_STATE_TABLE = "AUDIT_STATE_TABLE"
ENV_AUDIT_DESTINATION_ARN = "AUDIT_LOG_DESTINATION_ARN"
ENV_AUDIT_FILTER_NAME = "AUDIT_LOG_FILTER_NAME"
ENV_STACK_NAME = "EKSGUARD_STACK_NAME"
ENV_INVENTORY_FUNCTION = "INVENTORY_FUNCTION_NAME"
ENV_SPOKE_ACCOUNTS = "SPOKE_ACCOUNTS"
ENV_SPOKE_ROLE_NAME = "SPOKE_ROLE_NAME"
ENV_ORGANIZATION_ID = "ORGANIZATION_ID"
ENV_ACCOUNT_NAMES = "ACCOUNT_NAMES"
ENV_AUDIT_HUB_DESTINATION_ARN = "AUDIT_LOG_HUB_DESTINATION_ARN"
ENV_AWS_REGION = "AWS_REGION"

# SPOKE_ACCOUNTS may hold this word: every ACTIVE account of the organisation (organizations:ListAccounts).
ORGANIZATION_WORD = "ORGANIZATION"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting is missing or malformed (deployment problem, not a runtime one)."""


def parse_bool(name: str, raw: str | None, default: bool = False) -> bool:
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false)")


def parse_list(raw: str | None) -> tuple[str, ...]:
    """Comma (or whitespace) separated list; empty items dropped, order kept, duplicates removed."""
    if not raw:
        return ()
    items: list[str] = []
    for chunk in raw.replace("\n", ",").split(","):
        item = chunk.strip()
        if item and item not in items:
            items.append(item)
    return tuple(items)


def parse_int(name: str, raw: str | None, default: int, minimum: int = 0) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    # scheduled stop
    stop_tag_key: str = "kubectl-instance"
    stop_tag_value: str = "*"
    stop_regions: tuple[str, ...] = ()
    stop_grace_minutes: int = 30
    keep_alive_tag_key: str = "KeepAliveUntil"
    max_keep_alive_days: int = 7
    orphaned_session_hours: int = 12
    schedule_timezone: str = "UTC"
    cluster_tag_key: str = "eks-cluster"
    dry_run: bool = False
    # alert pipeline
    alert_queue_url: str | None = None
    alert_min_severity: Severity = Severity.INFO
    slack_webhook_secret_arn: str | None = None
    slack_critical_mention: str = "<!here>"
    idempotency_table: str | None = None
    # detectors
    expected_admin_arns: tuple[str, ...] = ()
    kubectl_role_patterns: tuple[str, ...] = ()
    kubectl_session_hours: str = ""
    kubectl_session_timezone: str = "UTC"
    audit_state_table: str | None = None
    audit_destination_arn: str | None = None
    audit_filter_name: str = "eksguard-aws-auth"
    stack_name: str | None = None
    inventory_function_name: str | None = None
    # accounts: empty = this account only (a single-account deployment)
    spoke_accounts: tuple[str, ...] = ()
    spoke_whole_organization: bool = False
    spoke_role_name: str = "eksguard-spoke"
    organization_id: str | None = None
    account_names: Mapping[str, str] = field(default_factory=dict)
    audit_hub_destination_arn: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_stop_regions(self) -> tuple[str, ...]:
        return self.stop_regions or (self.region,)

    @property
    def multi_account(self) -> bool:
        """A hub: spokes are configured, or the organisation may send events to the hub's bus (then an
        event from another account is judged through that account's role, or with its lookups failed
        and said so, never with the hub's own instances and roles)."""
        return bool(self.spoke_accounts) or self.spoke_whole_organization or bool(self.organization_id)


def parse_spoke_accounts(raw: str | None) -> tuple[tuple[str, ...], bool]:
    """Account IDs, and whether the word ORGANIZATION asked for every account of the organisation."""
    accounts: list[str] = []
    whole = False
    for item in parse_list(raw):
        if item.upper() == ORGANIZATION_WORD:
            whole = True
        elif _ACCOUNT_ID.match(item):
            accounts.append(item)
        else:
            raise ConfigError(
                f"{ENV_SPOKE_ACCOUNTS}: {item!r} is neither a 12-digit account ID nor {ORGANIZATION_WORD}"
            )
    return tuple(accounts), whole


def parse_account_names(raw: str | None) -> dict[str, str]:
    """`111122223333=prod,444455556666=dev`: names shown beside account IDs in alerts."""
    names: dict[str, str] = {}
    for item in parse_list(raw):
        account, sep, name = item.partition("=")
        account, name = account.strip(), name.strip()
        if not sep or not _ACCOUNT_ID.match(account) or not name:
            raise ConfigError(f"{ENV_ACCOUNT_NAMES}: {item!r} is not <12-digit account ID>=<name>")
        names[account] = name[:64]
    return names


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    tag_key = env.get(ENV_STOP_TAG_KEY, "kubectl-instance").strip()
    if not tag_key:
        raise ConfigError(f"{ENV_STOP_TAG_KEY} must not be empty")
    try:
        min_severity = Severity.parse(env.get(ENV_ALERT_MIN_SEVERITY, "INFO") or "INFO")
    except ValueError as exc:
        raise ConfigError(f"{ENV_ALERT_MIN_SEVERITY}: {exc}") from None
    spoke_accounts, whole_org = parse_spoke_accounts(env.get(ENV_SPOKE_ACCOUNTS))
    role_name = (env.get(ENV_SPOKE_ROLE_NAME) or "").strip() or "eksguard-spoke"
    if not _ROLE_NAME.match(role_name):
        raise ConfigError(f"{ENV_SPOKE_ROLE_NAME}={role_name!r} is not an IAM role name")
    return Settings(
        region=env.get(ENV_AWS_REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        stop_tag_key=tag_key,
        stop_tag_value=(env.get(ENV_STOP_TAG_VALUE, "*").strip() or "*"),
        stop_regions=parse_list(env.get(ENV_STOP_REGIONS)),
        stop_grace_minutes=parse_int(ENV_STOP_GRACE_MINUTES, env.get(ENV_STOP_GRACE_MINUTES), 30),
        keep_alive_tag_key=env.get(ENV_KEEP_ALIVE_TAG_KEY, "KeepAliveUntil").strip() or "KeepAliveUntil",
        max_keep_alive_days=parse_int(ENV_MAX_KEEP_ALIVE_DAYS, env.get(ENV_MAX_KEEP_ALIVE_DAYS), 7, minimum=1),
        orphaned_session_hours=parse_int(
            ENV_ORPHANED_SESSION_HOURS, env.get(ENV_ORPHANED_SESSION_HOURS), 12, minimum=1
        ),
        schedule_timezone=(env.get(ENV_SCHEDULE_TIMEZONE) or "UTC").strip() or "UTC",
        cluster_tag_key=env.get(ENV_CLUSTER_TAG_KEY, "eks-cluster").strip() or "eks-cluster",
        dry_run=parse_bool(ENV_DRY_RUN, env.get(ENV_DRY_RUN)),
        alert_queue_url=env.get(ENV_ALERT_QUEUE_URL) or None,
        alert_min_severity=min_severity,
        slack_webhook_secret_arn=env.get(ENV_SLACK_WEBHOOK_SECRET_ARN) or None,
        slack_critical_mention=env.get(ENV_SLACK_CRITICAL_MENTION, "<!here>"),
        idempotency_table=env.get(ENV_IDEMPOTENCY_TABLE) or None,
        expected_admin_arns=parse_list(env.get(ENV_EXPECTED_ADMIN_ARNS)),
        kubectl_role_patterns=parse_list(env.get(ENV_KUBECTL_ROLE_PATTERNS)),
        kubectl_session_hours=(env.get(ENV_KUBECTL_SESSION_HOURS) or "").strip(),
        kubectl_session_timezone=(env.get(ENV_KUBECTL_SESSION_TIMEZONE) or "UTC").strip() or "UTC",
        audit_state_table=env.get(ENV_AUDIT_STATE_TABLE) or None,
        audit_destination_arn=env.get(ENV_AUDIT_DESTINATION_ARN) or None,
        audit_filter_name=env.get(ENV_AUDIT_FILTER_NAME, "eksguard-aws-auth").strip() or "eksguard-aws-auth",
        stack_name=(env.get(ENV_STACK_NAME) or "").strip() or None,
        inventory_function_name=(env.get(ENV_INVENTORY_FUNCTION) or "").strip() or None,
        spoke_accounts=spoke_accounts,
        spoke_whole_organization=whole_org,
        spoke_role_name=role_name,
        organization_id=(env.get(ENV_ORGANIZATION_ID) or "").strip() or None,
        account_names=parse_account_names(env.get(ENV_ACCOUNT_NAMES)),
        audit_hub_destination_arn=(env.get(ENV_AUDIT_HUB_DESTINATION_ARN) or "").strip() or None,
    )
