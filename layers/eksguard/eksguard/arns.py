"""ARN parsing and normalisation for principals seen in CloudTrail, EKS and audit logs.

The same human or role shows up in several spellings: an STS assumed-role session ARN, an IAM
role ARN with a path (SSO roles live under `aws-reserved/sso.amazonaws.com/`), a URL-encoded
path parameter. Comparisons (expected admins, aws-auth entries) use one canonical form:
`arn:<partition>:iam::<account>:role/<name>` without path, or `...:user/<name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12}|aws)?:(?P<resource>.+)$"
)


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0] if "/" in self.resource else self.resource.split(":", 1)[0]

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def decode(value: str) -> str:
    """URL-decode until stable (path parameters arrive encoded, sometimes twice)."""
    previous = value
    for _ in range(3):
        current = unquote(previous)
        if current == previous:
            break
        previous = current
    return previous.strip()


def parse_arn(value: str | None) -> Arn | None:
    if not value or not isinstance(value, str):
        return None
    match = _ARN_RE.match(decode(value))
    if not match:
        return None
    return Arn(
        partition=match["partition"],
        service=match["service"],
        region=match["region"],
        account=match["account"] or "",
        resource=match["resource"],
    )


def account_of(value: str | None) -> str | None:
    arn = parse_arn(value)
    return arn.account if arn and arn.account else None


def session_name_of(value: str | None) -> str | None:
    """Session name of an STS assumed-role ARN (`assumed-role/<role>/<session>`)."""
    arn = parse_arn(value)
    if arn and arn.service == "sts" and arn.resource.startswith("assumed-role/"):
        parts = arn.resource.split("/")
        if len(parts) >= 3:
            return "/".join(parts[2:])
    return None


def has_iam_path(value: str | None) -> bool:
    """True for role/user ARNs with a path (`role/some/path/name`): aws-auth never matches those."""
    arn = parse_arn(value)
    if not arn or arn.service != "iam":
        return False
    kind, _, rest = arn.resource.partition("/")
    return kind in ("role", "user") and "/" in rest


def principal_arn(value: str | None) -> str | None:
    """Canonical principal: assumed-role session -> role ARN; IAM path stripped; URL-decoded.

    Values that are not ARNs (e.g. a Kubernetes username) are returned decoded and stripped.
    """
    if value is None:
        return None
    text = decode(str(value))
    if not text:
        return None
    arn = parse_arn(text)
    if arn is None:
        return text
    if arn.service == "sts" and arn.resource.startswith("assumed-role/"):
        parts = arn.resource.split("/")
        if len(parts) >= 2:
            return f"arn:{arn.partition}:iam::{arn.account}:role/{parts[1]}"
    if arn.service == "iam":
        kind, _, rest = arn.resource.partition("/")
        if kind in ("role", "user") and rest:
            return f"arn:{arn.partition}:iam::{arn.account}:{kind}/{rest.rsplit('/', 1)[-1]}"
    return str(arn)


def short_name(value: str | None) -> str:
    """Human-friendly short form: `role/name`, `user/name` or the value itself."""
    canonical = principal_arn(value)
    if not canonical:
        return "unknown"
    arn = parse_arn(canonical)
    if arn and arn.service == "iam":
        return arn.resource
    return canonical


@dataclass(frozen=True)
class IamPrincipal:
    """An IAM role or user as IAM names it: the path is kept (None when the spelling does not say it).

    An STS session ARN (`assumed-role/<role>/<session>`) and a path-less role ARN written in
    aws-auth both leave the path unknown; role and user names are unique per account whatever
    their path, so the path can be looked up by name.
    """

    partition: str
    account: str
    kind: str  # "role" | "user"
    name: str
    path: str | None  # "/team/" for role/team/<name>, "/" for the root; None = the spelling does not say

    @property
    def canonical(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:{self.kind}/{self.name}"

    def with_path(self, path: str | None) -> IamPrincipal:
        return IamPrincipal(self.partition, self.account, self.kind, self.name, path)


def iam_principal(value: str | None) -> IamPrincipal | None:
    """The IAM role/user behind an ARN spelling; None for anything else.

    A path written in the ARN is kept. A path-less spelling leaves the path unknown rather than
    meaning `/`: aws-auth role ARNs and STS session ARNs never carry the path, so across
    eksguard's sources `role/Admin` only says the name.
    """
    arn = parse_arn(value)
    if arn is None or not arn.account:
        return None
    if arn.service == "sts" and arn.resource.startswith("assumed-role/"):
        parts = arn.resource.split("/")
        if len(parts) >= 2 and parts[1]:
            return IamPrincipal(arn.partition, arn.account, "role", parts[1], None)
        return None
    if arn.service != "iam":
        return None
    kind, _, rest = arn.resource.partition("/")
    if kind not in ("role", "user") or not rest:
        return None
    path, _, name = rest.rpartition("/")
    if not name:
        return None
    return IamPrincipal(arn.partition, arn.account, kind, name, f"/{path}/" if path else None)
