"""Run audit entries through the real audit-log dispatch (aws-auth and RBAC judges) with in-memory state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eksguard.alerts import Alert
from eksguard.audit_log.dispatch import DeliveryResult, process_delivery
from eksguard.audit_log.payload import decode_awslogs
from eksguard.aws_auth.state import InMemoryStateStore
from eksguard.expected_admins import ExpectedAdmins
from eksguard.rbac.store import InMemoryRbacStore
from tests.aws_auth_support import ADMIN, delivery


@dataclass
class World:
    """One cluster's remembered state across deliveries, and every alert published."""

    expected: ExpectedAdmins = field(default_factory=lambda: ExpectedAdmins([ADMIN]))
    aws_auth: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    rbac: InMemoryRbacStore = field(default_factory=InMemoryRbacStore)
    published: list[Alert] = field(default_factory=list)

    def deliver(self, *messages: str | dict[str, Any]) -> DeliveryResult:
        batch = decode_awslogs(delivery(list(messages)))
        return process_delivery(batch, self.expected, self.aws_auth, self.rbac, "eu-west-1", self.published.extend)

    def alerts(self, *messages: str | dict[str, Any]) -> list[Alert]:
        return self.deliver(*messages).alerts
