"""Kubernetes user names and groups that RBAC bindings eksguard has seen make cluster admin.

The aws-auth judge asks this: a mapping that gives a principal such a group or user name makes it
cluster admin as surely as system:masters does, through the RBAC door.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eksguard.aws_auth.mapping import template_may_render
from eksguard.rbac.builtin import builtin_roles
from eksguard.rbac.power import RoleBook
from eksguard.rbac.state import RbacState

KUBE_SYSTEM = "kube-system"


@dataclass(frozen=True)
class AdminSubjects:
    """name -> how it is admin ("ClusterRoleBinding x -> ClusterRole cluster-admin")."""

    users: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    def doors(self, username: str | None, groups: tuple[str, ...]) -> list[tuple[str, str]]:
        """(door, how) for a caller with this user name (or template) and these groups (or templates):
        door is "group <name>" or "user name <name>"."""
        found = []
        for group in groups:
            for name, how in self.groups.items():
                if group == name or template_may_render(group, name):
                    found.append((f"group {name}", how))
        if username:
            for name, how in self.users.items():
                if username == name or template_may_render(username, name):
                    found.append((f"user name {name}", how))
        return found


def admin_subjects(state: RbacState) -> AdminSubjects:
    book = RoleBook({**builtin_roles(), **state.roles})
    users: dict[str, str] = {}
    groups: dict[str, str] = {}
    for binding in state.bindings.values():
        if binding.kind == "RoleBinding" and binding.namespace != KUBE_SYSTEM:
            continue
        if not book.power(binding.role_key(), namespaced=binding.kind == "RoleBinding"):
            continue
        where = "cluster-wide" if binding.kind == "ClusterRoleBinding" else f"in {binding.namespace}"
        how = f"{binding.kind} {binding.name} binds it to {binding.role_ref.describe()} {where}"
        for subject in binding.subjects:
            if subject.kind == "Group":
                groups.setdefault(subject.name, how)
            elif subject.kind == "User":
                users.setdefault(subject.name, how)
    return AdminSubjects(users, groups)
