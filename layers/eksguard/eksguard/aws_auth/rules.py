"""The aws-auth verdict table: one Rule per kind of finding, the whole policy in one place.

Verdicts speak about what the authenticator effectively grants (see mapping.py): a principal,
SSO permission set, wildcard pattern or session-name template that is effectively in
system:masters and is not an expected admin is CRITICAL and named, whatever else in the ConfigMap
is broken. "Loses access" is said only of principals that really lose their mapping.

Each rule selects its subjects from the context (entries of the diff, or the change itself),
rates each one (a grant to an expected admin drops to INFO) and words it. Rules are evaluated in
table order; a rule that `claims` its entries hides them from the later, milder rules (an entry
that entered system:masters is not also reported as "mapped").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eksguard.aws_auth.decode import AuditChange
from eksguard.aws_auth.diff import AwsAuthDiff, DeadMapping, diff_contents
from eksguard.aws_auth.mapping import MASTERS_GROUP, AwsAuthContent, MapEntry, parse_aws_auth
from eksguard.findings import ExpectedAdminsLike, ExpectedVerdicts, Finding
from eksguard.findings import Rule as GenericRule
from eksguard.findings import markdown_table as documented_table
from eksguard.severity import Severity


@dataclass
class VerdictContext:
    """One decoded change, what it did to the effective mappings, and who did it."""

    change: AuditChange
    cluster: str
    expected: ExpectedAdminsLike
    by: str  # the actor, as shown
    baseline: bool  # the content before the change is known
    diff: AwsAuthDiff | None = None
    content: AwsAuthContent | None = None
    prior_content: AwsAuthContent | None = None
    blame: str | None = None  # set when the actor of the diff is uncertain (versions do not line up)
    rbac_admins: Any = None  # eksguard.rbac.admins.AdminSubjects: groups and user names RBAC makes admin
    _checks: ExpectedVerdicts | None = None

    def expected_admin(self, principal: str) -> tuple[bool, str]:
        if self._checks is None:
            self._checks = ExpectedVerdicts(self.expected, self.cluster)
        return self._checks(principal)

    @property
    def by_phrase(self) -> str:
        return f"by {self.by}" if self.blame is None else f"{self.blame} (last write by {self.by})"

    @property
    def effect(self) -> str:
        return self.change.effect

    @property
    def status(self) -> str:
        return f"{self.change.status_code} {self.change.status_reason or ''}".strip() or "no status"

    def attempted(self) -> tuple[MapEntry, ...]:
        """Entries a denied or dry-run write would have put in system:masters."""
        if self.change.attempted_data is None:
            return ()
        content = parse_aws_auth(self.change.attempted_data)
        return diff_contents(self.prior_content if self.baseline else None, content).masters_entered


Select = Callable[[VerdictContext], Iterable[Any]]
Rule = GenericRule[VerdictContext]


# ---------------------------------------------------------------- wording helpers


def _who(entry: MapEntry) -> str:
    return entry.sso.describe() if entry.sso is not None else entry.arn


def _how(entry: MapEntry) -> str:
    if entry.masters_via_template:
        templates = ", ".join(repr(g) for g in entry.masters_groups)
        return f" (group template {templates}: any caller who picks the STS session name becomes {MASTERS_GROUP})"
    return ""


def _masters_rate(ctx: VerdictContext, entry: MapEntry, severity: Severity) -> Severity:
    return Severity.INFO if ctx.expected_admin(entry.principal)[0] else severity


def _masters_headline(ctx: VerdictContext, entry: MapEntry) -> str:
    expected, _ = ctx.expected_admin(entry.principal)
    who = _who(entry)
    if expected:
        if ctx.baseline:
            return f"expected admin {who} added to {MASTERS_GROUP} {ctx.by_phrase}"
        return f"expected admin {who} is in {MASTERS_GROUP} (first view of aws-auth, change {ctx.by_phrase})"
    if ctx.baseline:
        return f"{who} added to {MASTERS_GROUP} {ctx.by_phrase}{_how(entry)}"
    return f"{who} is in {MASTERS_GROUP} (not an expected admin) after a change {ctx.by_phrase}{_how(entry)}"


def _masters_detail(ctx: VerdictContext, entry: MapEntry) -> str:
    expected, reason = ctx.expected_admin(entry.principal)
    where = f"{entry.source} item {entry.index}"
    if expected:
        return f"{entry.describe()} ({where}): {reason or 'on the expected-admin list'}"
    return f"{entry.describe()} ({where}): NOT an expected admin ({reason or 'not on the list'}); full cluster admin"


def _lost_rate(ctx: VerdictContext, subject: tuple[MapEntry, str], severity: Severity) -> Severity:
    entry, _ = subject
    if entry.is_node:
        return Severity.CRITICAL
    return Severity.HIGH if entry.is_master else severity


def _changed_words(change: Any) -> str:
    parts = []
    if change.groups_added:
        parts.append(f"+{', '.join(change.groups_added)}")
    if change.groups_removed:
        parts.append(f"-{', '.join(change.groups_removed)}")
    if change.before.username != change.after.username:
        parts.append(f"username {change.before.username} -> {change.after.username}")
    return "; ".join(parts) or "spelling changed"


def _diff(ctx: VerdictContext) -> AwsAuthDiff:
    return ctx.diff or AwsAuthDiff()


def _when(*effects: str) -> Select:
    return lambda ctx: [ctx.change] if ctx.effect in effects else []


def _added(ctx: VerdictContext) -> str:
    return "added to" if ctx.baseline else "present in"


def _attempt_word(ctx: VerdictContext) -> str:
    return "dry run, nothing persisted" if ctx.effect == "dry_run" else f"denied: {ctx.status}"


# User name prefixes EKS keeps for itself (access entries refuse them); Kubernetes keeps `system:`.
RESERVED_USERNAME_PREFIXES = ("eks:", "system:", "aws:", "amazon:", "iam:")


def _reserved_username_entries(ctx: VerdictContext) -> list[MapEntry]:
    """Mappings this change gives a user name reserved for EKS or Kubernetes components (nodes aside):
    whoever uses them writes as `eks:addon-manager` or `system:apiserver` would."""
    if ctx.effect != "changed":
        return []
    diff = _diff(ctx)
    candidates = [(e, None) for e in diff.added] + [(c.after, c.before) for c in diff.changed]
    return [
        entry
        for entry, before in candidates
        if not entry.is_node
        and entry.username
        and entry.username.startswith(RESERVED_USERNAME_PREFIXES)
        and (before is None or before.username != entry.username)
    ]


def _rbac_admin_entries(ctx: VerdictContext) -> list[tuple[MapEntry, list[tuple[str, str]]]]:
    """Mappings this change gives a group or user name that an RBAC binding makes cluster admin."""
    if ctx.rbac_admins is None or ctx.effect != "changed":
        return []
    diff = _diff(ctx)
    found = []
    candidates = [(e, None) for e in diff.added] + [(c.after, c.before) for c in diff.changed]
    for entry, before in candidates:
        if entry.is_master or entry.is_node:
            continue
        doors = ctx.rbac_admins.doors(entry.username, entry.groups)
        if before is not None:
            had = set(ctx.rbac_admins.doors(before.username, before.groups))
            doors = [d for d in doors if d not in had]
        if doors:
            found.append((entry, doors))
    return found


# ---------------------------------------------------------------- the table

RULES: tuple[Rule, ...] = (
    Rule(
        name="content_unverifiable",
        severity=Severity.CRITICAL,
        why="A mapRoles/mapUsers/mapAccounts value eksguard cannot read although the authenticator may "
        "(nesting beyond eksguard's limits): who is in system:masters cannot be verified.",
        select=lambda ctx: _diff(ctx).keys_unverifiable,
        headline=lambda ctx, d: (
            f"aws-auth {d.source} cannot be verified after {ctx.change.verb} {ctx.by_phrase}: "
            f"{d.reason}; anyone may be in {MASTERS_GROUP}"
        ),
        detail=lambda ctx, d: f"unverifiable {d.source}: {d.reason}",
    ),
    Rule(
        name="masters_granted",
        severity=Severity.CRITICAL,
        why="A principal, SSO permission set or session-name group template (any caller-chosen session name) "
        "is effectively in system:masters and is not an expected admin (INFO when it is).",
        select=lambda ctx: _diff(ctx).masters_entered,
        headline=_masters_headline,
        detail=_masters_detail,
        principal=lambda ctx, e: e.principal,
        rate=_masters_rate,
        claims=True,
    ),
    Rule(
        name="rbac_admin_mapped",
        severity=Severity.CRITICAL,
        why=(
            "A principal is mapped to a group or user name that an RBAC binding eksguard has seen makes cluster "
            "admin (a ClusterRoleBinding, or a kube-system RoleBinding, of an admin-equivalent role) and is not "
            "an expected admin (INFO when it is): system:masters by the RBAC door."
        ),
        select=_rbac_admin_entries,
        headline=lambda ctx, item: (
            f"{_who(item[0])} {_added(ctx)} aws-auth as cluster admin through RBAC ({item[1][0][0]}) {ctx.by_phrase}"
        ),
        detail=lambda ctx, item: (
            f"{item[0].describe()}: {'; '.join(f'{door}: {how}' for door, how in item[1])}"
            + ("" if ctx.expected_admin(item[0].principal)[0] else "; NOT an expected admin")
        ),
        principal=lambda ctx, item: item[0].principal,
        rate=lambda ctx, item, severity: Severity.INFO if ctx.expected_admin(item[0].principal)[0] else severity,
        claims=True,
    ),
    Rule(
        name="reserved_username_mapped",
        severity=Severity.HIGH,
        why=(
            "A principal is mapped to a user name reserved for EKS or Kubernetes components (`eks:`, `system:` "
            "other than a node mapping, `aws:`, `amazon:`, `iam:`): its writes would pass for theirs."
        ),
        select=_reserved_username_entries,
        headline=lambda ctx, e: f"{_who(e)} mapped to reserved user name {e.username} {ctx.by_phrase}",
        detail=lambda ctx, e: f"{e.describe()}: user name {e.username} belongs to EKS or Kubernetes components",
        principal=lambda ctx, e: e.principal,
    ),
    Rule(
        name="aws_auth_deleted",
        severity=Severity.CRITICAL,
        why="aws-auth deleted (delete, or a deletecollection that names it or lists it in its response): "
        "every principal mapped there, node roles included, loses access.",
        select=_when("deleted"),
        headline=lambda ctx, c: (
            f"aws-auth deleted {ctx.by_phrase}"
            + (
                f" with deletecollection ({c.selector or 'no selector: every ConfigMap in kube-system'})"
                if c.verb == "deletecollection"
                else ""
            )
            + ": every IAM principal mapped there (other than the cluster creator) loses access"
        ),
        detail=lambda ctx, c: (
            "mappings lost: "
            + ("; ".join(e.describe() for e in ctx.prior_content.effective().values()) if ctx.prior_content else "")
            if ctx.prior_content and ctx.prior_content.entries
            else "mappings lost: earlier content not known"
        ),
    ),
    Rule(
        name="aws_auth_possibly_deleted",
        severity=Severity.CRITICAL,
        why="deletecollection of ConfigMaps in kube-system whose selector may match aws-auth, with no logged "
        "response to tell: treated as a deletion.",
        select=_when("possibly_deleted"),
        headline=lambda ctx, c: (
            f"aws-auth possibly deleted {ctx.by_phrase}: deletecollection of ConfigMaps in kube-system "
            f"({c.selector or 'no selector: every ConfigMap of the namespace'})"
        ),
        detail=lambda ctx, c: f"deletecollection {c.request_uri or ''}: check that aws-auth still exists",
    ),
    Rule(
        name="access_lost",
        severity=Severity.MEDIUM,
        why="A principal loses its mapping because its entry or its whole key became unreadable to the "
        "authenticator (locked out, not removed): CRITICAL for a node role, HIGH for a system:masters member.",
        select=lambda ctx: _diff(ctx).lost_by_breakage,
        headline=lambda ctx, s: f"{_who(s[0])} loses access to the cluster after a change {ctx.by_phrase}: {s[1]}",
        detail=lambda ctx, s: f"locked out: {s[0].describe()}; the authenticator now drops it ({s[1]})",
        principal=lambda ctx, s: s[0].principal,
        rate=_lost_rate,
        claims=True,
    ),
    Rule(
        name="node_role_removed",
        severity=Severity.CRITICAL,
        why="A node role's mapping is removed: its nodes can no longer join or stay Ready.",
        select=lambda ctx: _diff(ctx).node_roles_removed,
        headline=lambda ctx, e: (
            f"node role {e.arn} removed from aws-auth {ctx.by_phrase}: its nodes can no longer join or stay Ready"
        ),
        detail=lambda ctx, e: f"node mapping lost: {e.describe()}",
        principal=lambda ctx, e: e.principal,
        claims=True,
    ),
    Rule(
        name="dead_masters_mapping",
        severity=Severity.MEDIUM,
        why="A system:masters mapping the authenticator ignores (invalid entry, IAM path, wrong group case, "
        "wrong key case, shadowed by a later entry): someone meant to grant admin and it does not work.",
        select=lambda ctx: _diff(ctx).dead_masters,
        headline=lambda ctx, d: (
            f"dead {MASTERS_GROUP} mapping for {d.identity} ({d.where}) {ctx.by_phrase}: {d.reason}"
        ),
        detail=lambda ctx, d: f"ignored by the authenticator: {d.identity} at {d.where}: {d.reason}",
        principal=lambda ctx, d: d.identity if isinstance(d, DeadMapping) else None,
    ),
    Rule(
        name="key_unreadable",
        severity=Severity.HIGH,
        why="A whole mapRoles/mapUsers/mapAccounts value the authenticator cannot read (invalid YAML, not a list): "
        "it keeps none of its entries, so every principal mapped there (node roles too) loses access.",
        select=lambda ctx: _diff(ctx).keys_unreadable,
        headline=lambda ctx, d: (
            f"aws-auth {d.source} is unreadable after {ctx.change.verb} {ctx.by_phrase}: {d.reason}"
        ),
        detail=lambda ctx, d: f"unreadable {d.source}: {d.reason}",
    ),
    Rule(
        name="masters_attempt",
        severity=Severity.MEDIUM,
        why="A denied write or a server-side dry run would have put a non-expected principal in system:masters.",
        select=lambda ctx: (
            [e for e in ctx.attempted() if not ctx.expected_admin(e.principal)[0]]
            if ctx.effect in ("failed", "dry_run")
            else []
        ),
        headline=lambda ctx, e: (
            f"attempt ({'dry run' if ctx.effect == 'dry_run' else 'denied'}): {ctx.by} tried to "
            f"add {_who(e)} to {MASTERS_GROUP} ({_attempt_word(ctx)})"
        ),
        detail=lambda ctx, e: f"attempted, not applied: {e.describe()}",
        principal=lambda ctx, e: e.principal,
    ),
    Rule(
        name="content_unknown",
        severity=Severity.MEDIUM,
        why="aws-auth was written but the entry does not show the result (Metadata level, unreplayable patch, "
        "unknown verb, no status): read the log stream.",
        select=_when("unknown"),
        headline=lambda ctx, c: (
            f"aws-auth {c.verb} {ctx.by_phrase}: content unknown ({c.unknown_reason}); check the audit log stream"
        ),
        detail=lambda ctx, c: f"content unknown: {c.unknown_reason}",
    ),
    Rule(
        name="account_added",
        severity=Severity.MEDIUM,
        why="An account added to mapAccounts: every IAM principal of it can authenticate (username = ARN, no groups).",
        select=lambda ctx: _diff(ctx).accounts_added,
        headline=lambda ctx, a: f"account {a} {_added(ctx)} aws-auth mapAccounts (change {ctx.by_phrase})",
        detail=lambda ctx, a: (
            f"every IAM principal of account {a} can now authenticate (mapped to its ARN as username, no groups)"
        ),
        principal=lambda ctx, a: a,
    ),
    Rule(
        name="node_role_added",
        severity=Severity.INFO,
        why="A node role mapped (system:bootstrappers + system:nodes).",
        select=lambda ctx: _diff(ctx).node_roles_added,
        headline=lambda ctx, e: f"node role {e.arn} {_added(ctx)} aws-auth (change {ctx.by_phrase})",
        detail=lambda ctx, e: f"node mapping: {e.describe()}",
        principal=lambda ctx, e: e.principal,
        claims=True,
    ),
    Rule(
        name="masters_left",
        severity=Severity.INFO,
        why="A principal leaves system:masters.",
        select=lambda ctx: _diff(ctx).masters_left,
        headline=lambda ctx, e: f"{_who(e)} removed from {MASTERS_GROUP} {ctx.by_phrase}",
        detail=lambda ctx, e: f"left {MASTERS_GROUP}: {e.describe()}",
        principal=lambda ctx, e: e.principal,
        claims=True,
    ),
    Rule(
        name="mapped",
        severity=Severity.INFO,
        why="Any other mapping added.",
        select=lambda ctx: _diff(ctx).added,
        headline=lambda ctx, e: (
            f"{_who(e)} {_added(ctx)} aws-auth as {', '.join(e.groups) or 'no groups'} (change {ctx.by_phrase})"
        ),
        detail=lambda ctx, e: f"mapped: {e.describe()}",
        principal=lambda ctx, e: e.principal,
    ),
    Rule(
        name="unmapped",
        severity=Severity.INFO,
        why="Any other mapping removed.",
        select=lambda ctx: _diff(ctx).removed,
        headline=lambda ctx, e: f"{_who(e)} unmapped from aws-auth {ctx.by_phrase}",
        detail=lambda ctx, e: f"unmapped: {e.describe()}",
        principal=lambda ctx, e: e.principal,
    ),
    Rule(
        name="mapping_changed",
        severity=Severity.INFO,
        why="Groups or username of a mapping changed (without entering or leaving system:masters).",
        select=lambda ctx: _diff(ctx).changed,
        headline=lambda ctx, c: f"{_who(c.after)} mapping changed {ctx.by_phrase} ({_changed_words(c)})",
        detail=lambda ctx, c: f"changed: {c.after.describe()} ({_changed_words(c)})",
        principal=lambda ctx, c: c.after.principal,
    ),
    Rule(
        name="account_removed",
        severity=Severity.INFO,
        why="An account removed from mapAccounts.",
        select=lambda ctx: _diff(ctx).accounts_removed,
        headline=lambda ctx, a: f"account {a} removed from aws-auth mapAccounts {ctx.by_phrase}",
        detail=lambda ctx, a: f"mapAccounts no longer lists {a}",
        principal=lambda ctx, a: a,
    ),
    Rule(
        name="dead_mapping",
        severity=Severity.INFO,
        why="Any other mapping the authenticator ignores (invalid entry, IAM path in a role ARN, ...).",
        select=lambda ctx: _diff(ctx).dead_other,
        headline=lambda ctx, d: f"dead aws-auth mapping for {d.identity} ({d.where}) {ctx.by_phrase}: {d.reason}",
        detail=lambda ctx, d: f"ignored by the authenticator: {d.identity} at {d.where}: {d.reason}",
        principal=lambda ctx, d: d.identity,
    ),
    Rule(
        name="write_attempt",
        severity=Severity.INFO,
        why="Any other denied write or dry run of aws-auth (nothing persisted).",
        select=lambda ctx: [ctx.change] if ctx.effect in ("failed", "dry_run") else [],
        headline=lambda ctx, c: f"{ctx.by} tried to {c.verb} aws-auth ({_attempt_word(ctx)})",
        detail=lambda ctx, c: f"{c.verb} ({c.write_form}) not applied: {_attempt_word(ctx)}",
    ),
)


def _claim_key(subject: Any) -> Any:
    if isinstance(subject, MapEntry):
        return subject.key
    if hasattr(subject, "after") and isinstance(subject.after, MapEntry):
        return subject.after.key
    if isinstance(subject, tuple) and subject and isinstance(subject[0], MapEntry):
        return subject[0].key
    return None


def evaluate(ctx: VerdictContext, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every finding, highest severity first (table order breaks ties); a `write_attempt` only when
    no other rule spoke about the attempt."""
    findings: list[Finding] = []
    claimed: set[Any] = set()
    for rule in rules:
        for subject in rule.select(ctx):
            key = _claim_key(subject)
            if key is not None and key in claimed:
                continue
            if rule.name == "write_attempt" and any(f.rule == "masters_attempt" for f in findings):
                continue
            findings.append(rule.finding(ctx, subject))
            if rule.claims and key is not None:
                claimed.add(key)
    return sorted(findings, key=lambda f: -f.severity)


def markdown_table(rules: tuple[Rule, ...] = RULES) -> str:
    """The policy as the Markdown table README.md and docs/aws-auth-alerts.md carry (a test keeps them equal)."""
    return documented_table(rules)
