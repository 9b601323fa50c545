"""Who may legitimately hold cluster-wide admin: configured patterns plus the kubectl instance roles.

Two sources, both compared on canonical principal ARNs (`arns.principal_arn`: assumed-role
sessions become their role, IAM paths are dropped, URL-encoding is undone):

* `EXPECTED_CLUSTER_ADMIN_ARNS`: a comma list whose items are either `arn-glob` (every cluster)
  or `cluster=arn-glob` (that cluster only; the cluster part may be a glob too). Globs follow
  `fnmatch` rules, case-sensitive.
* the IAM roles of the kubectl instances (the EC2 instances carrying the stop tag), discovered
  without hand listing. An instance role counts for its own cluster only: the cluster tag, else
  the stop tag value when it names one. An instance whose cluster cannot be told is not counted
  for any cluster (it is logged), because counting it everywhere would let a dev box's role
  silently become an expected admin of prod.

The discovery is cached per container for `KUBECTL_ROLE_TTL_SECONDS`. When it fails the
principal is treated as NOT expected (the safe side: a real grant still alerts) and the failure
is reported through `AdminMatch.lookup_error` so the alert can say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import arns, aws
from eksguard.config import TRUE_WORDS, Settings

logger = Logger(child=True)

KUBECTL_ROLE_TTL_SECONDS = 300.0
_GLOB_CHARS = frozenset("*?[")
# Instance states whose role still belongs to a kubectl box (a stopped box is started again).
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]

# Injected clock so tests can move time past the TTL.
_clock: Callable[[], float] = time.monotonic


class KubectlRoleLookupError(RuntimeError):
    """The kubectl instance roles could not be discovered (EC2 or IAM call failed)."""


@dataclass(frozen=True)
class AdminPattern:
    """One configured item: `principal` glob, limited to clusters matching `cluster` when set."""

    principal: str
    cluster: str | None = None

    def matches(self, cluster: str | None, principal: str) -> bool:
        if self.cluster is not None and (cluster is None or not fnmatchcase(cluster, self.cluster)):
            return False
        return fnmatchcase(principal, self.principal)

    def __str__(self) -> str:
        return f"{self.cluster}={self.principal}" if self.cluster is not None else self.principal


@dataclass(frozen=True)
class AdminMatch:
    """Why a principal is (or is not) an expected admin; `lookup_error` says the answer is degraded."""

    expected: bool
    reason: str
    lookup_error: str | None = None


def parse_pattern(item: str) -> AdminPattern | None:
    """`arn-glob` or `cluster=arn-glob`. Role names may contain `=`, so an item starting with
    `arn:` is always a plain ARN glob. Returns None (and logs) for an item that cannot be used."""
    text = item.strip()
    if not text:
        return None
    cluster: str | None = None
    if not text.startswith("arn:") and "=" in text:
        cluster_part, _, text = text.partition("=")
        cluster = cluster_part.strip() or None
        text = text.strip()
    if not text:
        logger.warning("expected_admin_pattern_ignored", extra={"pattern": item, "reason": "empty principal"})
        return None
    principal = _canonical_pattern(text)
    if principal is None:
        logger.warning(
            "expected_admin_pattern_ignored",
            extra={"pattern": item, "reason": "an IAM path followed by a bare wildcard would match every role"},
        )
        return None
    if principal == "*":
        logger.warning("expected_admin_pattern_matches_everyone", extra={"pattern": item})
    return AdminPattern(principal=principal, cluster=cluster)


def _canonical_pattern(text: str) -> str | None:
    """Bring a pattern to the canonical principal form (no IAM path, decoded).

    `role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*` becomes `role/AWSReservedSSO_Admin_*`
    because canonical principals carry no path. `role/team/*` would become `role/*` (every role),
    so such a pattern is refused rather than silently widened.
    """
    if arns.has_iam_path(text):
        name = text.rsplit("/", 1)[-1]
        if not name.strip("*?"):
            return None
    return arns.principal_arn(text) or None


def parse_patterns(items: Iterable[str]) -> tuple[AdminPattern, ...]:
    parsed = (parse_pattern(item) for item in items)
    return tuple(p for p in parsed if p is not None)


class ExpectedAdmins:
    """Answers "may this principal be cluster-wide admin of this cluster?"."""

    def __init__(
        self,
        patterns: Sequence[str],
        instance_roles: Callable[[str], set[str]] | None = None,
    ) -> None:
        self.patterns = parse_patterns(patterns)
        self._instance_roles = instance_roles

    def is_expected(self, cluster: str | None, principal: str | None) -> bool:
        return self.check(cluster, principal).expected

    def check(self, cluster: str | None, principal: str | None) -> AdminMatch:
        canonical = arns.principal_arn(principal)
        if not canonical:
            return AdminMatch(False, "principal unknown")
        for pattern in self.patterns:
            if pattern.matches(cluster, canonical):
                return AdminMatch(True, f"matches expected admin pattern {pattern}")
        if self._instance_roles is None:
            return AdminMatch(False, "not on the expected admin list")
        if not cluster:
            return AdminMatch(False, "not on the expected admin list (cluster unknown, kubectl roles not consulted)")
        try:
            roles = self._instance_roles(cluster)
        except Exception as exc:  # any lookup failure degrades to "not expected" (safe side)
            message = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "expected_admin_lookup_failed",
                extra={"cluster": cluster, "principal": canonical, "error": message},
            )
            return AdminMatch(False, "kubectl instance roles unavailable; treated as not expected", message)
        if canonical in {arns.principal_arn(role) for role in roles}:
            return AdminMatch(True, f"kubectl instance role of cluster {cluster}")
        return AdminMatch(False, "not on the expected admin list nor a kubectl instance role of this cluster")


# ---------------------------------------------------------------- kubectl instance role discovery


def cluster_of_instance(tags: dict[str, str], settings: Settings) -> str | None:
    """The cluster a kubectl instance serves: the cluster tag, else a stop tag value naming one."""
    explicit = (tags.get(settings.cluster_tag_key) or "").strip()
    if explicit:
        return explicit
    value = (tags.get(settings.stop_tag_key) or "").strip()
    if not value or value.lower() in TRUE_WORDS or _GLOB_CHARS & set(value):
        return None
    return value


def _instance_profile_name(profile_arn: str) -> str | None:
    arn = arns.parse_arn(profile_arn)
    if arn is None or not arn.resource.startswith("instance-profile/"):
        return None
    return arn.resource.rsplit("/", 1)[-1] or None


def _tags_of(instance: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value") or "") for t in instance.get("Tags") or [] if t.get("Key")}


def discover_kubectl_roles(settings: Settings) -> dict[str, set[str]]:
    """Uncached discovery: cluster -> canonical role ARNs of its kubectl instances.

    Raises KubectlRoleLookupError when a region or an instance profile cannot be read, since a
    partial answer cannot tell "not a kubectl role" from "not looked at".
    """
    profiles: dict[str, list[str]] = {}
    iam = aws.client("iam", settings.region)
    result: dict[str, set[str]] = {}
    filters: list[dict[str, Any]] = [
        {"Name": "tag-key", "Values": [settings.stop_tag_key]},
        {"Name": "instance-state-name", "Values": _LIVE_STATES},
    ]
    if settings.stop_tag_value not in ("", "*"):
        filters.append({"Name": f"tag:{settings.stop_tag_key}", "Values": [settings.stop_tag_value]})
    for region in settings.effective_stop_regions:
        try:
            pages = (
                aws.client("ec2", region)
                .get_paginator("describe_instances")
                .paginate(Filters=filters, PaginationConfig={"PageSize": 500})
            )
            instances = [i for page in pages for r in page.get("Reservations") or [] for i in r.get("Instances") or []]
        except (ClientError, BotoCoreError) as exc:
            raise KubectlRoleLookupError(f"DescribeInstances in {region} failed: {exc}") from exc
        for instance in instances:
            tags = _tags_of(instance)
            if not fnmatchcase(tags.get(settings.stop_tag_key, ""), settings.stop_tag_value or "*"):
                continue
            instance_id = instance.get("InstanceId")
            profile_arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
            profile = _instance_profile_name(profile_arn) if profile_arn else None
            if profile is None:
                continue
            cluster = cluster_of_instance(tags, settings)
            if cluster is None:
                logger.warning(
                    "kubectl_instance_without_cluster",
                    extra={
                        "instance_id": instance_id,
                        "region": region,
                        "reason": f"no {settings.cluster_tag_key} tag and the {settings.stop_tag_key} value "
                        "names no cluster; its role is not counted as expected admin anywhere",
                    },
                )
                continue
            if profile not in profiles:
                profiles[profile] = _roles_of_profile(iam, profile)
            if profiles[profile]:
                result.setdefault(cluster, set()).update(profiles[profile])
    return result


def _roles_of_profile(iam: Any, profile: str) -> list[str]:
    try:
        response = iam.get_instance_profile(InstanceProfileName=profile)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            logger.info("kubectl_instance_profile_missing", extra={"instance_profile": profile})
            return []
        raise KubectlRoleLookupError(f"GetInstanceProfile {profile} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise KubectlRoleLookupError(f"GetInstanceProfile {profile} failed: {exc}") from exc
    roles = (response.get("InstanceProfile") or {}).get("Roles") or []
    canonical = (arns.principal_arn(role.get("Arn")) for role in roles)
    return [arn for arn in canonical if arn]


_cache_lock = threading.Lock()
_role_cache: dict[tuple[Any, ...], tuple[float, dict[str, set[str]]]] = {}


def _lookup_key(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.region,
        settings.effective_stop_regions,
        settings.stop_tag_key,
        settings.stop_tag_value,
        settings.cluster_tag_key,
    )


def kubectl_instance_roles(settings: Settings) -> dict[str, set[str]]:
    """Cached (per container, `KUBECTL_ROLE_TTL_SECONDS`) cluster -> canonical kubectl role ARNs.

    Failures are not cached, so the next call tries again; they raise KubectlRoleLookupError.
    """
    key = _lookup_key(settings)
    now = _clock()
    with _cache_lock:
        cached = _role_cache.get(key)
        if cached and cached[0] > now:
            return {cluster: set(roles) for cluster, roles in cached[1].items()}
    roles = discover_kubectl_roles(settings)
    logger.info(
        "kubectl_roles_discovered",
        extra={"clusters": sorted(roles), "roles": sum(len(r) for r in roles.values())},
    )
    with _cache_lock:
        _role_cache[key] = (now + KUBECTL_ROLE_TTL_SECONDS, roles)
    return {cluster: set(r) for cluster, r in roles.items()}


_admins_cache: dict[tuple[Any, ...], ExpectedAdmins] = {}


def expected_admins_from_settings(settings: Settings) -> ExpectedAdmins:
    """The ExpectedAdmins for these settings, built once per container (roles refresh on TTL)."""
    key = (settings.expected_admin_arns, *_lookup_key(settings))
    with _cache_lock:
        admins = _admins_cache.get(key)
        if admins is None:
            admins = ExpectedAdmins(
                settings.expected_admin_arns,
                instance_roles=lambda cluster: kubectl_instance_roles(settings).get(cluster, set()),
            )
            _admins_cache[key] = admins
    return admins


def reset_caches() -> None:
    """Forget cached lookups (tests start a fresh moto backend per test)."""
    with _cache_lock:
        _role_cache.clear()
        _admins_cache.clear()
