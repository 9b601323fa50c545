"""Who is known to carry a Kubernetes user name or group: the IAM principals behind an RBAC subject.

A binding names Kubernetes identities, not IAM principals. In EKS an IAM principal gets its user name
and groups from an aws-auth mapping (`username`, `groups`, templates included) or from an access
entry (`username`, `kubernetesGroups`). eksguard knows the aws-auth mappings it has seen (the audit
state) and the access entries the EKS API detector has recorded; what neither shows is unknown, and
alerts say "no principal known to eksguard carries it", never "nobody".

A user name that is an expected admin's ARN is not proof of that admin: aws-auth may map any other
principal to the same user name. Such a second carrier is named and makes the grant non-expected.

Templates carry every name they can render for some caller (`{{SessionName}}`, `{{AccountID}}`,
`{{EC2PrivateDNSName}}`, ...): access entries' user names too (EKS's default one for a role is
`arn:aws:sts::<account>:assumed-role/<role>/{{SessionName}}`). aws-auth `mapAccounts` gives every IAM
principal of a listed account its own ARN as user name (aws-iam-authenticator `doMapping`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from eksguard.arns import iam_principal
from eksguard.aws_auth.mapping import AwsAuthContent, template_may_render


@dataclass(frozen=True)
class Carrier:
    principal: str  # IAM ARN or SSO role pattern
    door: str  # "aws-auth mapRoles item 2", "access entry"

    def describe(self) -> str:
        return f"{self.principal} ({self.door})"


@dataclass(frozen=True)
class Carriers:
    users: Mapping[str, tuple[Carrier, ...]] = field(default_factory=dict)
    groups: Mapping[str, tuple[Carrier, ...]] = field(default_factory=dict)
    user_templates: tuple[tuple[str, Carrier], ...] = ()
    group_templates: tuple[tuple[str, Carrier], ...] = ()
    accounts: tuple[str, ...] = ()  # aws-auth mapAccounts

    def of_user(self, name: str) -> tuple[Carrier, ...]:
        found = list(self.users.get(name, ()))
        found += _rendering(self.user_templates, name)
        principal = iam_principal(name) if self.accounts and name.startswith("arn:") else None
        if principal is not None and principal.account in self.accounts and ":iam::" in name:
            found.append(Carrier(name, f"aws-auth mapAccounts {principal.account}"))
        return tuple(dict.fromkeys(found))

    def of_group(self, name: str) -> tuple[Carrier, ...]:
        found = list(self.groups.get(name, ()))
        found += _rendering(self.group_templates, name)
        return tuple(dict.fromkeys(found))


def _rendering(templates: tuple[tuple[str, Carrier], ...], name: str) -> list[Carrier]:
    """Carriers whose template may render `name`: each distinct template once, and only when its literal
    head and tail fit the name (most names match no template; a cheap test rules them out)."""
    rendering = {
        template
        for template in dict.fromkeys(t for t, _ in templates)
        if _ends_fit(template, name) and template_may_render(template, name)
    }
    return [c for template, c in templates if template in rendering]


@functools.lru_cache(maxsize=4096)
def _literal_ends(template: str) -> tuple[str, str]:
    parts = re.split(r"\{\{[A-Za-z0-9]+\}\}", template)
    return (parts[0], parts[-1]) if len(parts) > 1 else (template, "")


def _ends_fit(template: str, name: str) -> bool:
    head, tail = _literal_ends(template)
    return name.startswith(head) and name.endswith(tail) and len(name) >= len(head) + len(tail)


def carriers_from(
    aws_auth: AwsAuthContent | None, access_entries: Mapping[str, Mapping[str, object]] | None = None
) -> Carriers:
    """`access_entries`: principal ARN -> {"username": str | None, "groups": [str]} as recorded."""
    users: dict[str, list[Carrier]] = {}
    groups: dict[str, list[Carrier]] = {}
    user_templates: list[tuple[str, Carrier]] = []
    group_templates: list[tuple[str, Carrier]] = []
    if aws_auth is not None:
        for entry in aws_auth.effective().values():
            carrier = Carrier(entry.principal, f"aws-auth {entry.source} item {entry.index}")
            if entry.username:
                if "{{" in entry.username:
                    user_templates.append((entry.username, carrier))
                users.setdefault(entry.username, []).append(carrier)
            for group in entry.groups:
                if "{{" in group:
                    group_templates.append((group, carrier))
                groups.setdefault(group, []).append(carrier)
    for principal, recorded in (access_entries or {}).items():
        carrier = Carrier(principal, "access entry")
        username = recorded.get("username")
        if isinstance(username, str) and username:
            if "{{" in username:
                user_templates.append((username, carrier))
            users.setdefault(username, []).append(carrier)
        for group in _strings(recorded.get("groups")):
            groups.setdefault(group, []).append(carrier)
    return Carriers(
        users={k: tuple(v) for k, v in users.items()},
        groups={k: tuple(v) for k, v in groups.items()},
        user_templates=tuple(user_templates),
        group_templates=tuple(group_templates),
        accounts=tuple(aws_auth.accounts) if aws_auth is not None else (),
    )


def _strings(value: object) -> Iterable[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []
