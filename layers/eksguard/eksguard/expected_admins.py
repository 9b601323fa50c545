"""Who may legitimately hold cluster-wide admin, in a form nobody can forge.

Two sources:

* `EXPECTED_CLUSTER_ADMIN_ARNS`: a comma list whose items are either `arn-glob` (every cluster)
  or `cluster=arn-glob` (that cluster only; the cluster part may be a glob too).
* the roles of the kubectl instances (EC2 instances carrying the stop tag) of that cluster,
  **only** when the role also matches `KUBECTL_ROLE_ARN_PATTERNS`. The tag alone trusts
  nobody: anyone allowed `ec2:CreateTags` and `iam:PassRole` could otherwise tag their own
  instance and turn their later admin grant into INFO. Such a role is reported as "role of an
  instance tagged as kubectl instance of <cluster> that is not a configured kubectl role".

How an IAM pattern matches (IAM's own rules, so that a look-alike is never trusted):

* Role and user names compare case-insensitively (IAM refuses two names that differ only in
  case); account, partition and path compare exactly.
* The IAM path is part of the identity. A pattern with a path matches only that path
  (`role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*` does not trust
  `role/team/AWSReservedSSO_Admin_pwn`: only IAM Identity Center can create roles under
  `aws-reserved/`). A glob name without a path matches the root path `/` only. A literal name
  without a path matches that one role wherever it lives (names are unique per account).
* When the spelling of the principal does not carry its path (aws-auth role ARNs, STS session
  ARNs) and the pattern depends on it, the path is read from IAM by name (`iam:GetRole`).

Lookups that fail leave the principal NOT expected (the safe side: a real grant still alerts)
and say so through `AdminMatch.lookup_error`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from aws_lambda_powertools import Logger

from eksguard import arns, kubectl_hosts
from eksguard.config import Settings
from eksguard.kubectl_hosts import KubectlInstance, KubectlInventory

logger = Logger(child=True)

_GLOB_CHARS = frozenset("*?[")

PathOf = Callable[[arns.IamPrincipal], "str | None"]


def _has_glob(text: str) -> bool:
    return bool(_GLOB_CHARS & set(text))


@dataclass(frozen=True)
class AdminPattern:
    """One configured item: a principal glob, limited to clusters matching `cluster` when set.

    IAM role/user ARN globs are split into their parts (`iam` set); anything else is compared
    as text against the canonical principal.
    """

    text: str
    cluster: str | None = None
    iam: tuple[str, str, str, str | None, str] | None = None  # partition, account, kind, path, name

    @property
    def required_path(self) -> str | None:
        """The path glob a principal must have; None when any path will do."""
        if self.iam is None:
            return None
        _, _, _, path, name = self.iam
        if path is not None:
            return path
        return "/" if _has_glob(name) else None

    def applies_to(self, cluster: str | None) -> bool:
        return self.cluster is None or (cluster is not None and fnmatchcase(cluster, self.cluster))

    def matches(self, principal: str, iam: arns.IamPrincipal | None, path_of: Callable[[], str | None]) -> bool:
        """`path_of` is only called when the answer depends on a path the spelling does not carry."""
        if self.iam is None:
            return fnmatchcase(principal, self.text)
        if iam is None:
            return False
        partition, account, kind, _, name = self.iam
        if not (
            fnmatchcase(iam.partition, partition)
            and fnmatchcase(iam.account, account)
            and iam.kind == kind
            and fnmatchcase(iam.name.lower(), name.lower())
        ):
            return False
        required = self.required_path
        if required is None:
            return True
        path = iam.path if iam.path is not None else path_of()
        return path is not None and fnmatchcase(path, required)

    def __str__(self) -> str:
        return f"{self.cluster}={self.text}" if self.cluster is not None else self.text


@dataclass(frozen=True)
class AdminMatch:
    """Why a principal is (or is not) an expected admin; `lookup_error` says the answer is degraded."""

    expected: bool
    reason: str
    lookup_error: str | None = None
    # Set when the principal is the role of instances tagged as kubectl instances of this cluster
    # but matches no configured kubectl role pattern (a misconfiguration or a forged tag).
    unconfigured_kubectl_role: bool = False


def _iam_parts(text: str) -> tuple[str, str, str, str | None, str] | None:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    _, partition, service, _, account, resource = parts
    if service == "sts" and resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        return (partition, account, "role", None, pieces[1]) if len(pieces) >= 2 and pieces[1] else None
    kind, _, rest = resource.partition("/")
    if service != "iam" or kind not in ("role", "user") or not rest:
        return None
    path, _, name = rest.rpartition("/")
    if not name:
        return None
    return (partition, account, kind, f"/{path}/" if path else None, name)


def parse_pattern(item: str) -> AdminPattern | None:
    """`arn-glob` or `cluster=arn-glob`. Role names may contain `=`, so an item starting with
    `arn:` is always a plain ARN glob. Returns None (and logs) for an item that cannot be used."""
    text = arns.decode(item.strip()) if item.strip() else ""
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
    if text == "*":
        logger.warning("expected_admin_pattern_matches_everyone", extra={"pattern": item})
    return AdminPattern(text=text, cluster=cluster, iam=_iam_parts(text))


def parse_patterns(items: Iterable[str]) -> tuple[AdminPattern, ...]:
    parsed = (parse_pattern(item) for item in items)
    return tuple(p for p in parsed if p is not None)


class ExpectedAdmins:
    """Answers "may this principal be cluster-wide admin of this cluster?"."""

    def __init__(
        self,
        patterns: Sequence[str],
        kubectl_role_patterns: Sequence[str] = (),
        inventory: Callable[[], KubectlInventory] | None = None,
        path_of: PathOf | None = None,
    ) -> None:
        self.patterns = parse_patterns(patterns)
        self.kubectl_role_patterns = parse_patterns(kubectl_role_patterns)
        self._inventory = inventory
        self._path_of = path_of

    def _path_once(self, iam: arns.IamPrincipal | None) -> Callable[[], str | None]:
        """A path lookup for this principal that asks IAM at most once (a failure is re-raised, not retried)."""
        outcome: list[str | None | BaseException] = []

        def path_of() -> str | None:
            if not outcome:
                try:
                    if self._path_of is None or iam is None:
                        raise LookupError("the IAM path is not in the ARN and cannot be looked up here")
                    outcome.append(self._path_of(iam))
                except Exception as exc:
                    outcome.append(exc)
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            return outcome[0]

        return path_of

    def is_expected(self, cluster: str | None, principal: str | None) -> bool:
        return self.check(cluster, principal).expected

    def pattern_anywhere(self, principal: str | None, kubectl: bool = False) -> tuple[AdminPattern | None, str | None]:
        """(the configured pattern of any cluster this principal matches, why it could not be told).

        `kubectl` picks the kubectl role patterns. Used where a role's power reaches beyond one
        cluster (a pod identity role, an IAM role change), so the caller treats a doubt as a
        possible match.
        """
        canonical = arns.principal_arn(principal)
        if not canonical:
            return None, None
        iam = arns.iam_principal(arns.decode(str(principal)))
        doubts: list[str] = []
        path_of = self._path_once(iam)

        for pattern in self.kubectl_role_patterns if kubectl else self.patterns:
            try:
                if pattern.matches(canonical, iam, path_of):
                    return pattern, None
            except Exception as exc:  # this pattern cannot be told: the caller decides
                doubts.append(f"{pattern}: {type(exc).__name__}: {exc}")
        return None, "; ".join(doubts) or None

    def inventory(self) -> KubectlInventory | None:
        """The kubectl instances (None when this list does not consult them); raises on failure."""
        return self._inventory() if self._inventory is not None else None

    def check(self, cluster: str | None, principal: str | None) -> AdminMatch:
        canonical = arns.principal_arn(principal)
        if not canonical:
            return AdminMatch(False, "principal unknown")
        iam = arns.iam_principal(arns.decode(str(principal)))
        errors: list[str] = []
        path_of = self._path_once(iam)

        for pattern in self.patterns:
            if not pattern.applies_to(cluster):
                continue
            try:
                if pattern.matches(canonical, iam, path_of):
                    return AdminMatch(True, f"matches expected admin pattern {pattern}")
            except Exception as exc:  # a failed path lookup: this pattern cannot vouch for it
                errors.append(f"{type(exc).__name__}: {exc}")
        lookup_error = "; ".join(dict.fromkeys(errors)) or None
        if self._inventory is None:
            return AdminMatch(False, "not on the expected admin list", lookup_error)
        if not cluster:
            return AdminMatch(
                False, "not on the expected admin list (cluster unknown, kubectl roles not consulted)", lookup_error
            )
        try:
            hosts = self._inventory().instances_with_role(canonical)
        except Exception as exc:  # any lookup failure degrades to "not expected" (safe side)
            message = f"{type(exc).__name__}: {exc}"
            logger.warning("expected_admin_lookup_failed", extra={"cluster": cluster, "error": message})
            return AdminMatch(False, "kubectl instances unavailable; treated as not expected", message)
        return self._kubectl_verdict(cluster, hosts, lookup_error)

    def _kubectl_verdict(
        self, cluster: str, hosts: tuple[KubectlInstance, ...], lookup_error: str | None
    ) -> AdminMatch:
        own = [h for h in hosts if h.cluster == cluster]
        if not own:
            others = sorted({h.cluster or "an unnamed cluster" for h in hosts})
            if others:
                reason = f"not expected: role of the kubectl instance of {', '.join(others)}, not of {cluster}"
            else:
                reason = "not on the expected admin list nor the role of a kubectl instance of this cluster"
            return AdminMatch(False, reason, lookup_error)
        ids = ", ".join(sorted(h.instance_id for h in own))
        for role in sorted({r for h in own for r in h.roles}):
            iam = arns.iam_principal(role)
            if iam is not None and iam.path is None:
                iam = iam.with_path("/")  # IAM's own spelling (GetInstanceProfile): no path is the root
            for pattern in self.kubectl_role_patterns:
                if pattern.applies_to(cluster) and pattern.matches(arns.principal_arn(role) or role, iam, lambda: None):
                    return AdminMatch(True, f"kubectl instance role of cluster {cluster} ({ids}; matches {pattern})")
        return AdminMatch(
            False,
            f"role of an instance tagged as kubectl instance of {cluster} ({ids}) that is not a configured "
            "kubectl role",
            lookup_error,
            unconfigured_kubectl_role=True,
        )


_cache_lock = threading.Lock()
_admins_cache: dict[tuple[object, ...], ExpectedAdmins] = {}


def expected_admins_from_settings(settings: Settings) -> ExpectedAdmins:
    """The ExpectedAdmins for these settings, built once per container (lookups cache on their own TTL)."""
    key = (settings.expected_admin_arns, settings.kubectl_role_patterns, *kubectl_hosts.settings_key(settings))
    with _cache_lock:
        admins = _admins_cache.get(key)
        if admins is None:
            admins = ExpectedAdmins(
                settings.expected_admin_arns,
                settings.kubectl_role_patterns,
                inventory=lambda: kubectl_hosts.inventory(settings),
                path_of=lambda principal: kubectl_hosts.iam_path(settings, principal),
            )
            _admins_cache[key] = admins
    return admins


def reset_caches() -> None:
    """Forget cached lookups (tests start a fresh moto backend per test)."""
    kubectl_hosts.reset_caches()
    with _cache_lock:
        _admins_cache.clear()
