"""What the log cannot say, the live state does: a truncated aws-auth write gets the detector's MEDIUM
"content unknown", the detector asks the inventory to read that cluster, and the inventory names the
intruder the padding hid (CRITICAL).

moto cannot run Lambda functions without Docker, so the asynchronous invoke is checked with botocore's
Stubber (function name, InvocationType=Event, the request) and the request is then handed to the
inventory's handler, as Lambda would do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from eksguard import aws as eksguard_aws
from tests.inventory_world import REGION, LocalWorld, admin_entry, invoke, queued_alerts
from tests.kube_world import KUBECTL_ROLE, aws_auth, masters_mapping

INTRUDER = "arn:aws:iam::111122223333:role/padded-in"


def test_truncated_aws_auth_is_followed_by_the_inventory_naming_the_intruder(
    inventory_world: LocalWorld,
    inventory_env: dict[str, Any],
    lambda_context: Any,
    event_loader: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inventory_world.add_cluster("prod", entries=[admin_entry(KUBECTL_ROLE)])
    invoke({"action": "inventory"}, lambda_context)  # the state before the padded write
    queued_alerts(inventory_env["queue"])
    # the padded write put the intruder in system:masters; its log line was cut at 256 KB
    inventory_world.add_cluster("prod", entries=[admin_entry(KUBECTL_ROLE)], config=aws_auth(masters_mapping(INTRUDER)))

    monkeypatch.setenv("INVENTORY_FUNCTION_NAME", "eksguard-InventoryFunction")
    lambda_client = eksguard_aws.lookup_client("lambda", REGION)
    requests: list[dict[str, Any]] = []
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "eksguard-InventoryFunction", "InvocationType": "Event", "Payload": ANY},
        )
        original = lambda_client.invoke

        def capture(**kwargs: Any) -> Any:
            requests.append(json.loads(kwargs["Payload"]))
            return original(**kwargs)

        monkeypatch.setattr(lambda_client, "invoke", capture)
        from audit_log_alert_handler import lambda_handler

        detected = lambda_handler(event_loader("aws_auth_truncated.json"), lambda_context)
        stub.assert_no_pending_responses()
    assert detected["inventoryRequested"] is True
    [medium] = queued_alerts(inventory_env["queue"])
    assert medium["severity"] == "MEDIUM" and "content unknown" in medium["title"]

    [request] = requests
    assert request["cluster"] == "prod" and request["region"] == REGION and "aws-auth update" in request["reason"]
    found = invoke(request, lambda_context)
    assert found["clusters"] == 1
    [critical] = queued_alerts(inventory_env["queue"])
    assert critical["severity"] == "CRITICAL" and critical["principal"] == INTRUDER
    assert "found by inventory" in critical["title"] and "system:masters" in dict(critical["facts"])["Doors"]


def test_a_readable_write_asks_for_no_inventory(
    inventory_world: LocalWorld,
    inventory_env: dict[str, Any],
    lambda_context: Any,
    event_loader: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INVENTORY_FUNCTION_NAME", "eksguard-InventoryFunction")
    lambda_client = eksguard_aws.lookup_client("lambda", REGION)
    with Stubber(lambda_client) as stub:  # no response queued: any invoke would raise
        from audit_log_alert_handler import lambda_handler

        result = lambda_handler(event_loader("aws_auth_masters_backdoor.json"), lambda_context)
        stub.assert_no_pending_responses()
    assert "inventoryRequested" not in result and result["highestSeverity"] == "CRITICAL"
