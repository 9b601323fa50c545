"""The RBAC verdict table: one Rule per kind of finding, the whole policy in one place.

A binding is judged on what it grants, not on names: the role it references is admin-equivalent or
not by its rules (power.py), through aggregation too, whatever it is called. Each subject is judged
on its own: an expected admin (its user name is an expected admin's ARN and no other known principal
carries that name) drops to INFO; everything else that becomes admin is named. The writer never
makes a grant acceptable, with two exceptions that only EKS itself can use: an EKS component
(`eks:*` user, not impersonated) writing an EKS-owned object (`eks:*` name), and the API server
reconciling its bootstrap policy (`system:apiserver`, not impersonated, `system:*` objects and the
default roles). A service account granting cluster-admin is what a stolen token does; it is never
trusted as "a system user".

Rules are evaluated in table order; a rule that `claims` its subject hides it from the later rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eksguard.arns import account_of, principal_arn
from eksguard.findings import ExpectedAdminsLike, ExpectedVerdicts, Finding
from eksguard.findings import Rule as GenericRule
from eksguard.findings import markdown_table as documented_table
from eksguard.rbac.carriers import Carrier, Carriers
from eksguard.rbac.decode import RbacChange
from eksguard.rbac.model import SUBJECT_KINDS, Binding, Role, Subject
from eksguard.rbac.power import RoleBook, RoleFacts
from eksguard.severity import Severity

KUBE_SYSTEM = "kube-system"
SPECIAL_GROUPS = {
    "system:masters": "every member of system:masters",
    "system:authenticated": "every authenticated caller (every mapped IAM principal and every service account)",
    "system:unauthenticated": "every anonymous caller",
    "system:serviceaccounts": "every service account of every namespace",
}
SPECIAL_USERS = {"system:anonymous": "the anonymous user"}
BOOTSTRAP_ROLES = frozenset({"cluster-admin", "admin", "edit", "view"})
_SA_USER = re.compile(r"^system:serviceaccount:(?P<ns>[^:]+):(?P<name>[^:]+)$")


@dataclass(frozen=True)
class SubjectView:
    """One subject as eksguard judges it."""

    subject: Subject
    namespace: str | None  # of a service account: its own, or the RoleBinding's when it names none
    expected: bool
    reason: str  # why (not) expected, or what a special subject stands for
    special: str | None = None
    carriers: tuple[Carrier, ...] = ()

    def describe(self) -> str:
        subject = self.subject
        if subject.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace or '(no namespace)'}/{subject.name}"
        match = _SA_USER.match(subject.name) if subject.kind == "User" else None
        if match:
            return f"User {subject.name} (ServiceAccount {match['ns']}/{match['name']})"
        return subject.describe()

    def who_carries(self) -> str:
        if self.special:
            return self.special
        if self.subject.kind == "ServiceAccount" or _SA_USER.match(self.subject.name):
            return "pods running as this service account, and anyone who can mint its token"
        if not self.carriers:
            return "no IAM principal known to eksguard carries it (aws-auth and recorded access entries)"
        return (
            "carried by "
            + ", ".join(c.describe() for c in self.carriers[:10])
            + (f" and {len(self.carriers) - 10} more" if len(self.carriers) > 10 else "")
        )


@dataclass(frozen=True)
class Grant:
    """A subject that a binding newly binds to a role (reasons: the role's admin-equivalence)."""

    binding: Binding
    subject: SubjectView
    reasons: tuple[str, ...] | None  # None: role unknown to eksguard

    @property
    def scope(self) -> str:
        if self.binding.kind == "ClusterRoleBinding":
            return "cluster-wide"
        return f"in namespace {self.binding.namespace}"


@dataclass(frozen=True)
class Escalation:
    """A role that this change makes admin-equivalent (itself, or a role aggregating it)."""

    role: RoleFacts
    reasons: tuple[str, ...]
    via: str | None  # set when the role became admin-equivalent through aggregation of the changed role
    bound: tuple[tuple[Binding, SubjectView], ...]  # non-expected subjects already bound where it matters


@dataclass
class RbacContext:
    change: RbacChange
    cluster: str
    expected: ExpectedAdminsLike
    book: RoleBook  # roles as known before the change
    bindings: Mapping[str, Binding]  # bindings as known before the change
    carriers: Carriers = field(default_factory=Carriers)
    by: str = "unknown actor"
    account: str | None = None  # the cluster's AWS account (the log group owner)
    _checks: ExpectedVerdicts | None = None
    _grants: list[Grant] | None = None
    _escalations: list[Escalation] | None = None

    # ------------------------------------------------------------------ who
    def expected_admin(self, principal: str) -> tuple[bool, str]:
        if self._checks is None:
            self._checks = ExpectedVerdicts(self.expected, self.cluster)
        return self._checks(principal)

    def view(self, subject: Subject, binding: Binding) -> SubjectView:
        namespace = subject.namespace or (binding.namespace if subject.kind == "ServiceAccount" else None)
        if subject.kind == "Group":
            special = SPECIAL_GROUPS.get(subject.name)
            if special is None and subject.name.startswith("system:serviceaccounts:"):
                special = f"every service account of namespace {subject.name.split(':', 2)[2]}"
            carriers = self.carriers.of_group(subject.name)
            return SubjectView(subject, None, False, "a group is never an expected admin", special, carriers)
        if subject.kind == "User":
            if subject.name in SPECIAL_USERS:
                return SubjectView(subject, None, False, "", SPECIAL_USERS[subject.name])
            carriers = self.carriers.of_user(subject.name)
            if subject.name.startswith("arn:"):
                expected, reason = self.expected_admin(subject.name)
                canonical = principal_arn(subject.name)
                if expected and canonical != subject.name and not _is_session_of(subject.name, canonical):
                    # `role/x/Admin` canonicalises to `role/Admin`, but only a mapping gives anyone that name
                    expected, reason = False, f"not the expected admin's own user name (that is {canonical})"
                others = [c for c in carriers if not self.expected_admin(c.principal)[0]]
                if expected and others:
                    reason = "user name of an expected admin, but also carried by " + ", ".join(
                        c.describe() for c in others
                    )
                    expected = False
                return SubjectView(subject, None, expected, reason, None, carriers)
            return SubjectView(subject, None, False, "not an IAM principal's ARN", None, carriers)
        return SubjectView(subject, namespace, False, "a service account is never an expected admin")

    @property
    def trusted_writer(self) -> str | None:
        """Why the writer may change this object without an alert above INFO (only EKS itself)."""
        change = self.change
        if change.impersonated:
            return None
        user = change.actor.username or ""
        name = change.target.name or ""
        carried = self.carriers.of_user(user) if user else ()
        if carried:
            return None  # an aws-auth mapping or access entry gives a customer principal this user name
        if self.account and change.actor.arn and account_of(change.actor.arn) == self.account:
            return None  # an IAM principal of the customer's own account, whatever user name it was given
        if user.startswith("eks:") and name.startswith("eks:"):
            return f"EKS component {user} on EKS-owned {change.target.kind} {name}"
        if user == "system:apiserver" and (name.startswith("system:") or name in BOOTSTRAP_ROLES):
            return f"the API server's bootstrap policy ({name})"
        return None

    # ------------------------------------------------------------------ what
    @property
    def binding(self) -> Binding | None:
        return self.change.obj if isinstance(self.change.obj, Binding) else None

    @property
    def role(self) -> Role | None:
        return self.change.obj if isinstance(self.change.obj, Role) else None

    def reasons_for(self, binding: Binding, book: RoleBook | None = None) -> tuple[str, ...] | None:
        """The role's admin-equivalence as this binding grants it (a RoleBinding: namespaced rules only)."""
        return (book or self.book).power(binding.role_key(), namespaced=binding.kind == "RoleBinding")

    def grants(self) -> list[Grant]:
        """Subjects the binding (as written, or as attempted) newly binds, with the role's power."""
        if self._grants is None:
            self._grants = self._compute_grants()
        return self._grants

    def _compute_grants(self) -> list[Grant]:
        binding = self.binding
        if binding is None:
            return []
        prior = self.bindings.get(binding.key)
        already = (
            {_identity(s, prior) for s in prior.subjects}
            if prior is not None and prior.role_ref == binding.role_ref
            else set()
        )
        reasons = self.reasons_for(binding)
        grants: dict[tuple[str, str, str | None], Grant] = {}
        for subject in binding.subjects:
            if subject.kind not in SUBJECT_KINDS:
                continue  # the authorizer's appliesToUser matches no one for any other kind
            identity = _identity(subject, binding)
            if identity not in already and identity not in grants:
                grants[identity] = Grant(binding, self.view(subject, binding), reasons)
        return list(grants.values())

    def escalations(self) -> list[Escalation]:
        """Roles the changed role makes admin-equivalent: itself, and roles that aggregate it."""
        if self._escalations is None:
            self._escalations = self._compute_escalations()
        return self._escalations

    def _compute_escalations(self) -> list[Escalation]:
        role = self.role
        if role is None:
            return []
        facts = RoleFacts.of(role)
        after = self.book.with_role(facts)
        candidates = [(facts, None)] + [(t, facts.name) for t, _ in _aggregation_closure(after, facts)]
        found = []
        for candidate, via in candidates:
            namespaced = candidate.kind == "Role"  # a Role grants namespaced resources only
            power_after = after.power(candidate.key, namespaced) or ()
            power_before = self.book.power(candidate.key, namespaced) or ()
            if power_after and not power_before:
                found.append(Escalation(candidate, power_after, via, self._bound(candidate.key, after)))
        return found

    def _bound(self, role_key: str, book: RoleBook) -> tuple[tuple[Binding, SubjectView], ...]:
        bound = []
        for binding in self.bindings.values():
            if binding.role_key() != role_key:
                continue
            if binding.kind == "RoleBinding" and binding.namespace != KUBE_SYSTEM:
                continue
            for subject in binding.subjects:
                view = self.view(subject, binding)
                if not view.expected:
                    bound.append((binding, view))
        return tuple(bound)

    @property
    def is_attempt(self) -> bool:
        return self.change.effect in ("failed", "dry_run")

    @property
    def attempt_words(self) -> str:
        change = self.change
        if change.effect == "dry_run":
            return "server-side dry run, nothing persisted"
        return f"denied: {change.status_code} {change.status_reason or ''}".strip()


def _is_session_of(name: str, canonical: str | None) -> bool:
    """`arn:aws:sts::<acct>:assumed-role/<role>/<session>`: the user name EKS gives a role's session."""
    return bool(canonical) and ":assumed-role/" in name and name.count("/") == 2


def _identity(subject: Subject, binding: Binding) -> tuple[str, str, str | None]:
    """Who a subject is to the authorizer (apiGroup plays no part; a service account without a
    namespace in a RoleBinding is the binding's namespace's)."""
    if subject.kind == "ServiceAccount":
        return (subject.kind, subject.name, subject.namespace or binding.namespace)
    return (subject.kind, subject.name, None)


def _aggregation_closure(book: RoleBook, start: RoleFacts) -> list[tuple[RoleFacts, str]]:
    seen: dict[str, tuple[RoleFacts, str]] = {}
    frontier = [start]
    for _ in range(8):
        following = []
        for facts in frontier:
            for target, selector in book.aggregated_into(facts):
                if target.key not in seen and target.key != start.key:
                    seen[target.key] = (target, selector.describe())
                    following.append(target)
        frontier = following
        if not frontier:
            break
    return list(seen.values())


Select = Callable[[RbacContext], Iterable[Any]]
Rule = GenericRule[RbacContext]


# ---------------------------------------------------------------- selections and words


def _applied_grants(ctx: RbacContext, *, scope: str) -> list[Grant]:
    if ctx.change.effect != "changed" or ctx.trusted_writer:
        return []
    found = []
    for grant in ctx.grants():
        if not grant.reasons or grant.subject.expected:
            continue
        binding = grant.binding
        if scope == "cluster" and binding.kind == "ClusterRoleBinding":
            found.append(grant)
        elif scope == "kube-system" and binding.kind == "RoleBinding" and binding.namespace == KUBE_SYSTEM:
            found.append(grant)
        elif scope == "namespace" and binding.kind == "RoleBinding" and binding.namespace != KUBE_SYSTEM:
            found.append(grant)
    return found


def _reasons_text(reasons: tuple[str, ...] | None, limit: int = 3) -> str:
    if not reasons:
        return "no admin-equivalent rule"
    shown = "; ".join(reasons[:limit])
    return shown + (f"; and {len(reasons) - limit} more" if len(reasons) > limit else "")


def _grant_headline(ctx: RbacContext, grant: Grant) -> str:
    binding = grant.binding
    return (
        f"{grant.subject.describe()} bound to {binding.role_ref.describe()} {grant.scope} "
        f"({binding.kind} {binding.name}) by {ctx.by}"
    )


def _grant_detail(ctx: RbacContext, grant: Grant) -> str:
    subject = grant.subject
    who = subject.who_carries()
    expected = "" if subject.special else f"; {subject.reason}" if subject.reason else ""
    return (
        f"{grant.binding.kind} {grant.binding.name} binds {subject.describe()} ({who}{expected}) to "
        f"{grant.binding.role_ref.describe()}, admin-equivalent: {_reasons_text(grant.reasons)}"
    )


def _grant_principal(ctx: RbacContext, grant: Grant) -> str | None:
    return grant.subject.subject.name


def _escalation_rate(ctx: RbacContext, escalation: Escalation, severity: Severity) -> Severity:
    if escalation.bound:
        return Severity.CRITICAL
    role = escalation.role
    if role.kind == "Role" and role.namespace != KUBE_SYSTEM:
        return Severity.MEDIUM  # admin of one namespace, bound to no one yet
    return severity


def _escalation_headline(ctx: RbacContext, escalation: Escalation) -> str:
    role = escalation.role
    how = f" through aggregation of ClusterRole {escalation.via}" if escalation.via else ""
    bound = f", already bound to {len(escalation.bound)} non-expected subject(s)" if escalation.bound else ""
    if ctx.change.verb == "create" and not escalation.via:
        return f"{role.kind} {role.name} created as admin-equivalent by {ctx.by}{bound}"
    if not escalation.via and ctx.book.get(role.key) is None:
        # eksguard never saw this role before: it may have been admin-equivalent all along
        first = f"first seen by eksguard, in a {ctx.change.verb} by {ctx.by}"
        return f"{role.kind} {role.name} is admin-equivalent ({first}){bound}"
    return f"{role.kind} {role.name} became admin-equivalent{how} by {ctx.by}{bound}"


def _escalation_detail(ctx: RbacContext, escalation: Escalation) -> str:
    role = escalation.role
    where = f" in namespace {role.namespace}" if role.namespace else ""
    text = f"{role.kind} {role.name}{where} is admin-equivalent: {_reasons_text(escalation.reasons)}"
    if escalation.bound:
        subjects = ", ".join(
            f"{view.describe()} via {binding.kind} {binding.name}" for binding, view in escalation.bound[:10]
        )
        text += f"; bound to {subjects}"
    return text


def _attempts(ctx: RbacContext) -> list[Any]:
    if not ctx.is_attempt:
        return []
    found: list[Any] = [g for g in ctx.grants() if g.reasons and not g.subject.expected]
    found += ctx.escalations()
    return found


def _attempt_headline(ctx: RbacContext, item: Any) -> str:
    if isinstance(item, Grant):
        return (
            f"{ctx.by} tried to bind {item.subject.describe()} to {item.binding.role_ref.describe()} "
            f"{item.scope} ({ctx.attempt_words})"
        )
    return f"{ctx.by} tried to make {item.role.kind} {item.role.name} admin-equivalent ({ctx.attempt_words})"


def _attempt_detail(ctx: RbacContext, item: Any) -> str:
    base = _grant_detail(ctx, item) if isinstance(item, Grant) else _escalation_detail(ctx, item)
    return f"not applied ({ctx.attempt_words}): {base}"


def _expected_grants(ctx: RbacContext) -> list[Grant]:
    if ctx.change.effect != "changed":
        return []
    return [g for g in ctx.grants() if g.reasons and (g.subject.expected or ctx.trusted_writer)]


def _unknown_role_grants(ctx: RbacContext) -> list[Grant]:
    if ctx.change.effect != "changed" or ctx.trusted_writer:
        return []
    return [
        g
        for g in ctx.grants()
        if g.reasons is None
        and not g.subject.expected
        and (g.binding.kind == "ClusterRoleBinding" or g.binding.namespace == KUBE_SYSTEM)
    ]


def _removed(ctx: RbacContext) -> list[RbacChange]:
    change = ctx.change
    if change.effect != "deleted":
        return []
    if change.target.name is None:
        if change.deleted is None:
            return [change]  # what it deleted was not logged
        gone = [replace(change.target, name=name).key for name in change.deleted]
        relevant = [
            k
            for k in gone
            if (k in ctx.bindings and ctx.reasons_for(ctx.bindings[k]) != ())
            or (k not in ctx.bindings and change.target.is_binding)
            or ctx.book.power(k)
        ]
        return [change] if relevant else []
    prior_binding = ctx.bindings.get(change.target.key)
    if prior_binding is not None:
        return [change] if ctx.reasons_for(prior_binding) != () else []
    if not change.target.is_binding:
        return [change] if ctx.book.power(change.target.key) else []
    return [change]  # a binding eksguard never saw: it may have granted anything


def _removed_headline(ctx: RbacContext, change: RbacChange) -> str:
    if change.target.name is None:
        where = change.target.namespace or "the cluster"
        if change.deleted is None:
            return f"deletecollection of {change.target.kind}s in {where} by {ctx.by} (what it deleted was not logged)"
        return f"{len(change.deleted)} {change.target.kind}(s) in {where} deleted by {ctx.by} (deletecollection)"
    return f"{change.target.describe()} deleted by {ctx.by}"


def _removed_detail(ctx: RbacContext, change: RbacChange) -> str:
    prior = ctx.bindings.get(change.target.key)
    if prior is not None:
        subjects = ", ".join(s.describe() for s in prior.subjects[:10]) or "no subjects"
        return f"{change.target.describe()} bound {prior.role_ref.describe()} to {subjects}; now deleted"
    if change.target.name is None:
        if change.deleted is None:
            return f"deletecollection of {change.target.kind}s: what matched is gone, eksguard keeps what it knew"
        return f"deletecollection of {change.target.kind}s deleted {', '.join(change.deleted[:20]) or 'nothing'}"
    return f"{change.target.describe()} deleted (its content was not known to eksguard)"


RULES: tuple[Rule, ...] = (
    Rule(
        name="admin_bound_cluster_wide",
        severity=Severity.CRITICAL,
        why=(
            "A ClusterRoleBinding binds an admin-equivalent role (cluster-admin, `*` on `*`, escalate/bind on "
            "roles, impersonate, token minting, or aggregating one of these) to a subject that is not an "
            "expected admin: a user, a group (with the principals known to carry it), a service account, "
            "or system:masters/authenticated/unauthenticated/anonymous/serviceaccounts."
        ),
        select=lambda ctx: _applied_grants(ctx, scope="cluster"),
        headline=_grant_headline,
        detail=_grant_detail,
        principal=_grant_principal,
    ),
    Rule(
        name="admin_bound_in_kube_system",
        severity=Severity.CRITICAL,
        why=(
            "A RoleBinding in kube-system binds an admin-equivalent role to a subject that is not an expected "
            "admin: kube-system's service-account tokens are cluster admin."
        ),
        select=lambda ctx: _applied_grants(ctx, scope="kube-system"),
        headline=_grant_headline,
        detail=_grant_detail,
        principal=_grant_principal,
    ),
    Rule(
        name="role_became_admin",
        severity=Severity.HIGH,
        why=(
            "A Role or ClusterRole is created or edited to be admin-equivalent, itself or through aggregation "
            "labels (a built-in `system:*` role rewritten to `*` included); CRITICAL when it is already bound "
            "to subjects that are not expected admins, MEDIUM for an unbound Role outside kube-system."
        ),
        select=lambda ctx: ctx.escalations() if ctx.change.effect == "changed" and not ctx.trusted_writer else [],
        headline=_escalation_headline,
        detail=_escalation_detail,
        rate=_escalation_rate,
    ),
    Rule(
        name="admin_bound_in_namespace",
        severity=Severity.MEDIUM,
        why="A RoleBinding outside kube-system binds an admin-equivalent role to a non-expected subject.",
        select=lambda ctx: _applied_grants(ctx, scope="namespace"),
        headline=_grant_headline,
        detail=_grant_detail,
        principal=_grant_principal,
    ),
    Rule(
        name="unknown_role_bound",
        severity=Severity.MEDIUM,
        why=(
            "A ClusterRoleBinding (or kube-system RoleBinding) binds a role eksguard has never seen written "
            "(created before enrolment, or its write was unreadable) to a non-expected subject."
        ),
        select=_unknown_role_grants,
        headline=lambda ctx, g: f"{_grant_headline(ctx, g)} (role unknown to eksguard)",
        detail=lambda ctx, g: (
            f"{g.binding.kind} {g.binding.name} binds {g.subject.describe()} ({g.subject.who_carries()}) to "
            f"{g.binding.role_ref.describe()}, which eksguard has not seen written: it may be admin-equivalent"
        ),
        principal=_grant_principal,
    ),
    Rule(
        name="admin_attempt",
        severity=Severity.MEDIUM,
        why=(
            "A denied (403) or dry-run write that would have bound an admin-equivalent role to a non-expected "
            "subject or made a role admin-equivalent: nothing persisted, someone is trying."
        ),
        select=_attempts,
        headline=_attempt_headline,
        detail=_attempt_detail,
    ),
    Rule(
        name="content_unknown",
        severity=Severity.MEDIUM,
        why=(
            "A write was applied but its result cannot be read (no body at this audit level, a body that is "
            "not a valid object): it may grant anything."
        ),
        select=lambda ctx: [ctx.change] if ctx.change.effect == "unknown" else [],
        headline=lambda ctx, c: f"{c.target.describe()} changed by {ctx.by}; content unknown",
        detail=lambda ctx, c: f"{c.verb} ({c.write_form}) applied; {c.unknown_reason or 'content not logged'}",
    ),
    Rule(
        name="expected_admin_bound",
        severity=Severity.INFO,
        why=(
            "An admin-equivalent role bound to an expected admin, or written by EKS itself on an EKS-owned "
            "object (or the API server's bootstrap policy); the writer alone never lowers a grant."
        ),
        select=_expected_grants,
        headline=lambda ctx, g: f"expected: {_grant_headline(ctx, g)}",
        detail=lambda ctx, g: f"{_grant_detail(ctx, g)} ({ctx.trusted_writer or g.subject.reason})",
        principal=_grant_principal,
    ),
    Rule(
        name="admin_access_removed",
        severity=Severity.INFO,
        why=(
            "A binding or role that granted (or may have granted) admin-equivalent access was deleted, "
            "or a whole collection was."
        ),
        select=_removed,
        headline=_removed_headline,
        detail=_removed_detail,
    ),
)


@dataclass(frozen=True)
class LineRule:
    """A rule for an entry that cannot be decoded (truncated past 256 KB, or JSON eksguard cannot load):
    only the visible prefix (verb, object reference, actor, status) is known."""

    name: str
    severity: Severity
    why: str


LINE_RULES: dict[str, LineRule] = {
    rule.name: rule
    for rule in (
        LineRule(
            "content_truncated",
            Severity.HIGH,
            "A write of a binding or role arrives truncated (over 256 KB) or unreadable: no RBAC object is that "
            "large unless padded to hide its subjects and rules.",
        ),
        LineRule(
            "truncated_attempt",
            Severity.MEDIUM,
            "A truncated or unreadable write that was denied or a dry run: nothing persisted, content unknown.",
        ),
        LineRule(
            "truncated_removed",
            Severity.INFO,
            "A truncated or unreadable delete or deletecollection of bindings or roles.",
        ),
        LineRule(
            "state_full",
            Severity.HIGH,
            "The roles and bindings eksguard remembers no longer fit its state (RoleBindings outside kube-system "
            "are dropped first): later verdicts may say 'role unknown' where they would have said CRITICAL.",
        ),
    )
}


def evaluate(ctx: RbacContext, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every finding, highest severity first (table order breaks ties)."""
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(rule.finding(ctx, subject) for subject in rule.select(ctx))
    return sorted(findings, key=lambda f: -f.severity)


def markdown_table(rules: tuple[Rule, ...] = RULES) -> str:
    """The policy as the Markdown table README.md and docs/rbac-alerts.md carry (a test keeps them equal)."""
    return documented_table([*rules, *LINE_RULES.values()])
