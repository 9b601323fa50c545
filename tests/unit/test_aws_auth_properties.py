"""Property: however a system:masters grant is disguised, if aws-iam-authenticator would apply it to a
principal that is not an expected admin, the alert is CRITICAL and names that principal.

Disguises (tests/aws_auth_strategies.py): random field-name casing incl. Go's Unicode folding,
random invalid sibling entries, skippable values in the other keys, JSON or block YAML, literal
group or a session-name template. Judged through process_batch with the real ExpectedAdmins, with
and without an earlier state.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eksguard.alerts import Alert
from eksguard.audit_log.payload import decode_awslogs
from eksguard.aws_auth.mapping import parse_aws_auth
from eksguard.aws_auth.process import process_batch
from eksguard.aws_auth.state import InMemoryStateStore, StoredState
from eksguard.severity import Severity
from tests.aws_auth_strategies import EXPECTED_ADMIN, Disguised, disguised_grants
from tests.aws_auth_support import BASE, audit_event, configmap, delivery, expected_admins

PROPERTY = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _judge(case: Disguised, seeded: bool) -> list[Alert]:
    store = InMemoryStateStore()
    if seeded:
        store.items["prod"] = StoredState(
            cluster="prod", status="present", data={"mapRoles": BASE}, resource_version="100", audit_id="seed"
        )
    event = audit_event(
        "update", "aud-1", request=configmap(case.data, 100), response=configmap(case.data, 101), uri="/x"
    )
    published: list[Alert] = []
    process_batch(
        decode_awslogs(delivery([event])), expected_admins(EXPECTED_ADMIN), store, "eu-west-1", published.extend
    )
    return published


@PROPERTY
@given(disguised_grants(), st.booleans())
def test_disguised_masters_grant_is_critical_and_named(case: Disguised, seeded: bool) -> None:
    assert case.principal in [e.principal for e in parse_aws_auth(case.data).masters()]
    (alert,) = _judge(case, seeded)
    assert alert.severity is Severity.CRITICAL
    assert case.named in alert.title
    assert alert.principal == case.principal
