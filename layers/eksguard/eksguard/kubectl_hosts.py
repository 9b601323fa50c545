"""The kubectl instances as EC2 and IAM describe them: which instance serves which cluster, with which role.

A kubectl instance is an EC2 instance carrying the stop tag (the same selection the stop run
makes). The tag only says what an instance claims to be: anyone allowed `ec2:CreateTags` can
put it on any instance. So this module *describes* the tagged instances and never decides
trust; `expected_admins` trusts an instance role only when it also matches a configured
kubectl role pattern.

Every AWS call here is a lookup (short timeouts, one retry, the invocation's LookupBudget),
cached per container for `CACHE_TTL_SECONDS`. Failures raise `LookupError` subclasses and are
never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import arns, aws
from eksguard.config import TRUE_WORDS, Settings

logger = Logger(child=True)

CACHE_TTL_SECONDS = 300.0
_GLOB_CHARS = frozenset("*?[")
# Instance states whose role still belongs to a kubectl box (a stopped box is started again).
LIVE_STATES = ("pending", "running", "stopping", "stopped")

# Injected clock so tests can move time past the TTL.
_clock: Callable[[], float] = time.monotonic


class KubectlLookupError(LookupError):
    """The kubectl instances, an instance profile or an IAM path could not be read."""


@dataclass(frozen=True)
class KubectlInstance:
    instance_id: str
    region: str
    cluster: str | None  # None: neither the cluster tag nor the stop tag value names one
    tags: dict[str, str] = field(hash=False, compare=False)
    profile: str | None = None  # instance profile name
    roles: tuple[str, ...] = ()  # role ARNs as IAM reports them (with their path)

    @property
    def label(self) -> str:
        return f"{self.instance_id} (kubectl instance of {self.cluster or 'an unnamed cluster'}, {self.region})"


@dataclass(frozen=True)
class KubectlInventory:
    """Every live instance carrying the stop tag, in the configured regions."""

    instances: tuple[KubectlInstance, ...] = ()

    def by_id(self, instance_id: str | None) -> KubectlInstance | None:
        for instance in self.instances:
            if instance.instance_id == instance_id:
                return instance
        return None

    def roles_by_cluster(self) -> dict[str, set[str]]:
        """cluster -> canonical (path-less) role ARNs of its kubectl instances."""
        result: dict[str, set[str]] = {}
        for instance in self.instances:
            if instance.cluster:
                roles = result.setdefault(instance.cluster, set())
                roles.update(arns.principal_arn(r) or r for r in instance.roles)
        return {cluster: roles for cluster, roles in result.items() if roles}

    def instances_with_role(self, principal: str | None) -> tuple[KubectlInstance, ...]:
        """Instances whose role is this principal (role names compare case-insensitively, as IAM's)."""
        wanted = _role_key(principal)
        if wanted is None:
            return ()
        return tuple(i for i in self.instances if any(_role_key(r) == wanted for r in i.roles))

    def instances_with_role_name(self, account: str | None, role_name: str | None) -> tuple[KubectlInstance, ...]:
        """For IAM events, which name a role without its ARN."""
        if not role_name:
            return ()
        name = role_name.lower()
        return tuple(
            i
            for i in self.instances
            for r in i.roles
            if (p := arns.iam_principal(r)) and p.name.lower() == name and (account in (None, p.account))
        )

    def matching_tags(self, key: str, values: Iterable[str]) -> tuple[KubectlInstance, ...]:
        """Instances an SSM target `tag:<key>` with these values reaches (SSM compares values exactly)."""
        wanted = set(values)
        return tuple(i for i in self.instances if key in i.tags and i.tags[key] in wanted)

    def with_tag_key(self, key: str) -> tuple[KubectlInstance, ...]:
        return tuple(i for i in self.instances if key in i.tags)


def _role_key(principal: str | None) -> tuple[str, str, str] | None:
    parsed = arns.iam_principal(principal)
    if parsed is None or parsed.kind != "role":
        return None
    return (parsed.partition, parsed.account, parsed.name.lower())


def cluster_of_instance(tags: dict[str, str], settings: Settings) -> str | None:
    """The cluster a kubectl instance serves: the cluster tag, else a stop tag value naming one."""
    explicit = (tags.get(settings.cluster_tag_key) or "").strip()
    if explicit:
        return explicit
    value = (tags.get(settings.stop_tag_key) or "").strip()
    if not value or value.lower() in TRUE_WORDS or _GLOB_CHARS & set(value):
        return None
    return value


def instance_profile_name(profile_arn: str | None) -> str | None:
    arn = arns.parse_arn(profile_arn)
    if arn is None or not arn.resource.startswith("instance-profile/"):
        return None
    return arn.resource.rsplit("/", 1)[-1] or None


def tags_of(instance: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value") or "") for t in instance.get("Tags") or [] if t.get("Key")}


def call(what: str, fn: Callable[[], Any]) -> Any:
    aws.LookupBudget.check(what)
    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        raise KubectlLookupError(f"{what} failed: {exc}") from exc


def discover(settings: Settings) -> KubectlInventory:
    """Uncached: every live instance carrying the stop tag in the configured regions.

    Raises KubectlLookupError when a region or an instance profile cannot be read, since a
    partial answer cannot tell "not a kubectl instance" from "not looked at".
    """
    filters: list[dict[str, Any]] = [
        {"Name": "tag-key", "Values": [settings.stop_tag_key]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ]
    if settings.stop_tag_value not in ("", "*"):
        filters.append({"Name": f"tag:{settings.stop_tag_key}", "Values": [settings.stop_tag_value]})
    found: list[KubectlInstance] = []
    for region in settings.effective_stop_regions:
        ec2 = aws.lookup_client("ec2", region)
        token: str | None = None
        for _page in range(100):  # 100 pages of 500: far beyond one kubectl box per cluster
            kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 500}
            if token:
                kwargs["NextToken"] = token
            page = call(f"DescribeInstances in {region}", lambda: ec2.describe_instances(**kwargs))  # noqa: B023
            for reservation in page.get("Reservations") or []:
                for instance in reservation.get("Instances") or []:
                    described = _describe(instance, region, settings)
                    if described is not None:
                        found.append(described)
            token = page.get("NextToken")
            if not token:
                break
    return KubectlInventory(tuple(found))


def _describe(instance: dict[str, Any], region: str, settings: Settings) -> KubectlInstance | None:
    tags = tags_of(instance)
    if not fnmatchcase(tags.get(settings.stop_tag_key, ""), settings.stop_tag_value or "*"):
        return None
    instance_id = str(instance.get("InstanceId") or "")
    if not instance_id:
        return None
    profile = instance_profile_name((instance.get("IamInstanceProfile") or {}).get("Arn"))
    cluster = cluster_of_instance(tags, settings)
    if cluster is None:
        logger.info(
            "kubectl_instance_without_cluster",
            extra={
                "instance_id": instance_id,
                "region": region,
                "reason": f"no {settings.cluster_tag_key} tag and the {settings.stop_tag_key} value names no cluster",
            },
        )
    roles = profile_roles(settings, profile) if profile else ()
    return KubectlInstance(instance_id, region, cluster, tags, profile, roles)


# ---------------------------------------------------------------- cached lookups

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}


def _cached(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    # What a lookup answers depends on the account it was made in (a hub judging a spoke's event
    # looks in the spoke): the account scope is part of every key.
    key = (aws.current_scope(), *key)
    now = _clock()
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
    value = compute()
    with _lock:
        _cache[key] = (now + CACHE_TTL_SECONDS, value)
    return value


def settings_key(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.region,
        settings.effective_stop_regions,
        settings.stop_tag_key,
        settings.stop_tag_value,
        settings.cluster_tag_key,
    )


def inventory(settings: Settings) -> KubectlInventory:
    """The kubectl instances, cached per container (failures are not cached and raise)."""

    def compute() -> KubectlInventory:
        found = discover(settings)
        logger.info(
            "kubectl_instances_discovered",
            extra={
                "instances": len(found.instances),
                "clusters": sorted({i.cluster for i in found.instances if i.cluster}),
            },
        )
        return found

    result: KubectlInventory = _cached(("inventory", *settings_key(settings)), compute)
    return result


def profile_roles(settings: Settings, profile: str) -> tuple[str, ...]:
    """Role ARNs (with path) in an instance profile of this account; () when it does not exist."""

    def compute() -> tuple[str, ...]:
        iam = aws.lookup_client("iam", settings.region)
        aws.LookupBudget.check(f"GetInstanceProfile {profile}")
        try:
            response = iam.get_instance_profile(InstanceProfileName=profile)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                logger.info("instance_profile_missing", extra={"instance_profile": profile})
                return ()
            raise KubectlLookupError(f"GetInstanceProfile {profile} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise KubectlLookupError(f"GetInstanceProfile {profile} failed: {exc}") from exc
        roles = (response.get("InstanceProfile") or {}).get("Roles") or []
        return tuple(str(role["Arn"]) for role in roles if role.get("Arn"))

    result: tuple[str, ...] = _cached(("profile", settings.region, profile), compute)
    return result


def iam_path(settings: Settings, principal: arns.IamPrincipal) -> str | None:
    """The IAM path of a role or user, by name (names are unique per account); None when it does not exist.

    Only this account can be read: a principal of another account raises KubectlLookupError.
    """

    def compute() -> str | None:
        iam = aws.lookup_client("iam", settings.region)
        what = f"Get{principal.kind.title()} {principal.name}"
        aws.LookupBudget.check(what)
        try:
            if principal.kind == "role":
                found = iam.get_role(RoleName=principal.name)["Role"]
            else:
                found = iam.get_user(UserName=principal.name)["User"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return None
            raise KubectlLookupError(f"{what} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise KubectlLookupError(f"{what} failed: {exc}") from exc
        if arns.account_of(str(found.get("Arn") or "")) != principal.account:
            # GetRole reads this account only; a same-named role here says nothing about theirs.
            raise KubectlLookupError(f"{principal.canonical} belongs to another account; its IAM path is unknown")
        return str(found.get("Path") or "/")

    result: str | None = _cached(("path", settings.region, principal.canonical.lower()), compute)
    return result


def reset_caches() -> None:
    """Forget cached lookups (tests start a fresh moto backend per test)."""
    with _lock:
        _cache.clear()
