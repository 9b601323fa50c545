"""A change plus the verdicts rules ask about it, each computed once and only when a rule asks.

Anything that needs AWS (expected admins, the kubectl instances, instance profiles, session
targets) goes through `Lookups`; a lookup that fails never hides the event: the property that
needed it returns a *doubt* (the error text), and the rules treat a doubt as "may be a kubectl
instance / an admin role" at a reduced severity, with the error in the alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from eksguard import accounts, arns
from eksguard.console import partition_of
from eksguard.eks_api.change import ApiChange
from eksguard.eks_api.lookups import Lookups
from eksguard.expected_admins import AdminMatch
from eksguard.hours import parse_time
from eksguard.kubectl_hosts import KubectlInstance, KubectlInventory


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class RoleVerdict:
    """Why a role handed out or changed is powerful (empty reasons: it is not, as far as known)."""

    role: str
    reasons: tuple[str, ...] = ()
    doubt: str | None = None
    subject: str | None = None  # who receives it (a service account, a node group, an instance profile)
    clusters: tuple[str, ...] = ()  # clusters whose kubectl instances carry this role


@dataclass
class RuleContext:
    change: ApiChange
    lookups: Lookups = field(default_factory=Lookups)

    # ------------------------------------------------------------ expected admins

    @cached_property
    def principal_match(self) -> AdminMatch:
        return self._match(self.change.principal_as_sent or self.change.principal)

    @cached_property
    def creator_match(self) -> AdminMatch:
        return self._match(self.change.record.actor.arn)

    def _match(self, principal: str | None) -> AdminMatch:
        if self.lookups.expected is None:
            return AdminMatch(False, "no expected admin list configured")
        return self.lookups.expected.check(self.change.cluster, principal)

    @property
    def principal_expected(self) -> bool:
        return self.principal_match.expected

    @cached_property
    def _rbac_doors(self) -> tuple[list[tuple[str, str]], str | None]:
        change = self.change
        if self.lookups.rbac_admins is None or not change.cluster:
            return [], None
        try:
            # the record of this cluster of the event's account: a same-named cluster of another account
            # (an organisation account not listed as a spoke included) is another record
            subjects = self.lookups.rbac_admins(accounts.cluster_key(change.cluster, change.record.account))
        except Exception as exc:  # the access entry is still judged without RBAC knowledge
            return [], f"RBAC state of {change.cluster} unavailable ({_error(exc)})"
        return subjects.doors(change.username, tuple(change.groups or ())), None

    @property
    def rbac_doors(self) -> list[tuple[str, str]]:
        """(door, how) when the entry's groups or user name are ones RBAC bindings make cluster admin."""
        return self._rbac_doors[0]

    @property
    def rbac_error(self) -> str | None:
        return self._rbac_doors[1]

    # ------------------------------------------------------------ kubectl instances

    @cached_property
    def _inventory(self) -> tuple[KubectlInventory | None, str | None]:
        expected = self.lookups.expected
        if expected is None:
            return None, "no kubectl instance lookup configured"
        try:
            return expected.inventory(), None
        except Exception as exc:  # reported as a doubt, never raised
            return None, _error(exc)

    @property
    def inventory(self) -> KubectlInventory | None:
        return self._inventory[0]

    @property
    def inventory_error(self) -> str | None:
        return self._inventory[1]

    @cached_property
    def principal_hosts(self) -> tuple[KubectlInstance, ...]:
        """kubectl instances whose role is the change's principal."""
        if self.inventory is None or not self.change.principal:
            return ()
        return self.inventory.instances_with_role(self.change.principal)

    @cached_property
    def _targets(self) -> tuple[tuple[KubectlInstance, ...], str | None]:
        hosts = self.change.hosts
        if hosts is None:
            return (), None
        inventory = self.inventory
        if inventory is None:
            return (), f"kubectl instances unavailable ({self.inventory_error})"
        found: dict[str, KubectlInstance] = {}
        doubts: list[str] = []
        ids = list(hosts.instance_ids)
        if not ids and hosts.session_id and self.change.record.event_name == "ResumeSession":
            target, doubt = self._session_target(hosts.session_id)
            ids += [target] if target else []
            doubts += [doubt] if doubt else []
        for instance_id in ids:
            instance = inventory.by_id(instance_id)
            if instance is not None:
                found[instance.instance_id] = instance
        # Tag targets and "every instance" reach the instances of the call's region, and of the regions
        # its `targetLocations` name.
        regions = {self.change.record.region, *hosts.target_regions}

        def reached(instance: KubectlInstance) -> bool:
            return None in regions or instance.region in regions

        for key, values in hosts.tag_targets:
            matched = (
                [i for v in values for i in inventory.with_tag_key(v)]
                if key.lower() == "tag-key"
                else inventory.matching_tags(key[4:], values)
            )
            found.update((i.instance_id, i) for i in matched if reached(i))
        if hosts.all_instances:
            found.update((i.instance_id, i) for i in inventory.instances if reached(i))
        if hosts.opaque_targets and not found:
            doubts.append(f"targets eksguard cannot resolve: {', '.join(hosts.opaque_targets)}")
        return tuple(found.values()), "; ".join(doubts) or None

    def _session_target(self, session_id: str) -> tuple[str | None, str | None]:
        if self.lookups.session_target is None:
            return None, "the session's instance cannot be looked up here"
        region = self.change.record.region or ""
        try:
            target = self.lookups.session_target(region, session_id)
        except Exception as exc:
            return None, f"the session's instance could not be looked up ({_error(exc)})"
        return target, None if target else "the session's instance is not known to SSM"

    @property
    def targets(self) -> tuple[KubectlInstance, ...]:
        """kubectl instances the call reaches."""
        return self._targets[0]

    @property
    def target_doubt(self) -> str | None:
        """Why the call may reach a kubectl instance eksguard could not identify."""
        return self._targets[1]

    @property
    def reaches_kubectl(self) -> bool:
        return bool(self.targets)

    # ------------------------------------------------------------ roles with power

    def role_verdict(self, role: str, subject: str | None = None) -> RoleVerdict:
        """Is this role an expected admin (of any cluster) or a kubectl role (tagged or configured)?"""
        reasons: list[str] = []
        doubts: list[str] = []
        clusters: set[str] = set()
        expected = self.lookups.expected
        if expected is not None:
            for kubectl in (False, True):
                pattern, doubt = expected.pattern_anywhere(role, kubectl=kubectl)
                if pattern is not None:
                    reasons.append(f"{'kubectl role' if kubectl else 'expected cluster admin'} ({pattern})")
                if doubt:
                    doubts.append(doubt)
        if self.inventory is not None:
            hosts = self.inventory.instances_with_role(role)
            if hosts:
                reasons.append("role of " + ", ".join(h.label for h in hosts))
                clusters.update(h.cluster for h in hosts if h.cluster)
        elif self.inventory_error:
            doubts.append(f"kubectl instances unavailable ({self.inventory_error})")
        return RoleVerdict(role, tuple(reasons), "; ".join(doubts) or None, subject, tuple(sorted(clusters)))

    @cached_property
    def pod_role_verdicts(self) -> tuple[RoleVerdict, ...]:
        return tuple(self.role_verdict(p.role_arn, p.subject) for p in self.change.pod_roles)

    @cached_property
    def changed_role(self) -> RoleVerdict | None:
        """For IAM events: the role named by `roleName`, judged like a pod role."""
        hosts = self.change.hosts
        account = self.change.record.account
        if hosts is None or not hosts.role_name or not account:
            return None
        partition = partition_of(self.change.record.region)
        arn = f"arn:{partition}:iam::{account}:role/{hosts.role_name}"
        verdict = self.role_verdict(arn, hosts.profile_name and f"instance profile {hosts.profile_name}")
        if self.inventory is not None and not verdict.reasons:
            # The role name alone (no path in IAM events): compare by name within the account.
            by_name = self.inventory.instances_with_role_name(account, hosts.role_name)
            if by_name:
                reasons = ("role of " + ", ".join(h.label for h in by_name),)
                clusters = tuple(sorted({h.cluster for h in by_name if h.cluster}))
                return RoleVerdict(arn, reasons, verdict.doubt, verdict.subject, clusters)
        return verdict

    @cached_property
    def handed_profiles(self) -> tuple[RoleVerdict, ...]:
        """Instance profiles given to an instance whose roles are powerful (or cannot be read)."""
        hosts = self.change.hosts
        if hosts is None or not hosts.profiles:
            return ()
        verdicts: list[RoleVerdict] = []
        for profile in hosts.profiles:
            try:
                roles = self.lookups.profile_roles(profile) if self.lookups.profile_roles else ()
            except Exception as exc:
                verdicts.append(
                    RoleVerdict(f"instance profile {profile}", (), f"its roles could not be read ({_error(exc)})")
                )
                continue
            for role in roles:
                verdict = self.role_verdict(role, f"instance profile {profile}")
                if verdict.reasons or verdict.doubt:
                    verdicts.append(verdict)
        return tuple(verdicts)

    # ------------------------------------------------------------ working hours

    @cached_property
    def event_moment(self) -> datetime | None:
        return parse_time(self.change.record.event_time)

    @property
    def outside_hours(self) -> bool:
        """True outside the configured working hours (or when they could not be read)."""
        if self.lookups.hours_error:
            return True
        hours, moment = self.lookups.hours, self.event_moment
        return hours is not None and moment is not None and not hours.contains(moment)

    # ------------------------------------------------------------ names used in headlines

    @property
    def who(self) -> str:
        return self.change.principal or "an unknown principal"

    @property
    def where(self) -> str:
        return self.cluster or "an unknown cluster"

    @property
    def cluster(self) -> str | None:
        """The change's cluster, else the cluster of the kubectl instances it touches."""
        if self.change.cluster:
            return self.change.cluster
        if self.change.blinding and self.change.blinding.audit_cluster:
            return self.change.blinding.audit_cluster
        clusters = {h.cluster for h in self.targets if h.cluster}
        if not clusters and self.change.hosts is not None:
            roles = [*self.handed_profiles, *([self.changed_role] if self.changed_role else [])]
            clusters = {c for verdict in roles for c in verdict.clusters}
        return ", ".join(sorted(clusters)) or None

    @property
    def creator(self) -> str:
        actor = self.change.record.actor
        return actor.arn or actor.username or "its creator"

    @property
    def actor(self) -> str:
        actor = self.change.record.actor
        return arns.short_name(actor.arn) if actor.arn else actor.username or "an unknown actor"

    @property
    def target_label(self) -> str:
        return ", ".join(h.label for h in self.targets) or "an unidentified instance"
