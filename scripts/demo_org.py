"""eksguard as an organisation's hub, on this machine: no AWS account, no Docker.

The same local services as `make demo` (moto behind the local front, the Slack stand-in, all on
127.0.0.1), with three accounts: the hub (moto's default account), a spoke reached through its
`eksguard-spoke` role (moto keeps accounts apart by the credentials an AssumeRole returns), and a
spoke whose role refuses the hub (the refusal is answered below boto3, as a trust policy without the
hub would answer). The real handlers run with SPOKE_ACCOUNTS set:

  1. the evening stop covers the hub and the spoke, and reports the account it cannot reach
  2. CloudTrail calls made in the spoke arrive as the spoke's rules forward them to the hub's bus,
     and are judged in the spoke (its kubectl instance, its roles)
  3. the notifier posts them, each naming its account

Prints a transcript, checks every expected outcome and exits non-zero when one is missing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import demo
from demo import Checks, FakeContext, drain_queue, import_handler, load_event, local_services, queued_alerts, say
from seed_local_world import (
    instance_states,
    put_sessions,
    seed_spoke,
    seed_world,
    spoke_instance_states,
    spoke_session,
)

from tests.accounts_world import refuse_assume
from tests.cloudtrail_world import SAMPLE_KUBECTL_INSTANCE, aim_at

SPOKE = "444455556666"
SPOKE_NAME = "payments-prod"
REFUSING = "777788889999"
SAMPLE_ACCOUNT = "111122223333"
TIME_LIMIT_SECONDS = 60.0
# (event file, severity) of calls made in the spoke, forwarded to the hub's bus
SPOKE_EVENTS = (
    ("eks_api_cluster_admin_granted.json", "CRITICAL"),
    ("eks_api_kubectl_send_command.json", "HIGH"),
)


def forwarded(name: str, instance_id: str) -> dict[str, Any]:
    """A sample as a spoke's forwarding rule delivers it to the hub's bus: EventBridge keeps the account
    the call was made in (the envelope's `account`, the record's recipientAccountId)."""
    event = aim_at(load_event(name), {SAMPLE_KUBECTL_INSTANCE: instance_id}, SAMPLE_ACCOUNT)
    event = json.loads(json.dumps(event).replace(SAMPLE_ACCOUNT, SPOKE))
    event["id"] = f"{event['id'][:-4]}5555"
    event["detail"]["eventID"] = f"{event['detail']['eventID'][:-4]}5555"
    return event


def run(log_file: TextIO) -> Checks:
    checks = Checks()
    with local_services(Path(log_file.name).parent) as (front, slack, _kube):
        endpoint = front.url
        say(f"moto + front on {endpoint}, Slack stand-in on {slack.base_url}")
        world = seed_world(endpoint, slack.url)
        demo.configure_environment(endpoint, world)
        spoke_boxes = seed_spoke(endpoint, SPOKE)
        busy = next(b for b in spoke_boxes if b.expected_state == "running")
        put_sessions(endpoint, [*world.sessions, spoke_session(SPOKE, busy)])
        os.environ.update(
            {
                "SPOKE_ACCOUNTS": f"{SPOKE},{REFUSING}",
                "SPOKE_ROLE_NAME": "eksguard-spoke",
                "ACCOUNT_NAMES": f"{SPOKE}={SPOKE_NAME}",
                "KUBECTL_ROLE_ARN_PATTERNS": "arn:aws:iam::*:role/eksguard-kubectl-*",
            }
        )
        refuse_assume(REFUSING)
        say(
            f"hub {world.account}; spoke {SPOKE} ({SPOKE_NAME}) through its eksguard-spoke role; spoke {REFUSING}"
            " refuses the hub"
        )
        for box in spoke_boxes:
            say(f"   {SPOKE} {box.region:<10} {box.name:<20} {box.instance_id}  ({box.why})")

        stop = import_handler("stop_instances_handler")
        eks = import_handler("eks_api_alert_handler")
        notifier = import_handler("slack_notifier_handler")

        say("\n1. The evening stop runs over every account")
        result = stop.lambda_handler(
            load_event("stop_schedule.json"), FakeContext("eksguard-StopInstances", timeout_ms=300_000)
        )
        for account, states, boxes in (
            (world.account, instance_states(endpoint, world.boxes), world.boxes),
            (SPOKE, spoke_instance_states(endpoint, SPOKE, spoke_boxes), spoke_boxes),
        ):
            for box in boxes:
                state = states.get(box.name)
                say(f"   {account} {box.name:<20} -> {state}")
                checks.expect(
                    state in (box.expected_state, box.expected_state.replace("ped", "ping")),
                    f"{account} {box.name} {box.expected_state} ({box.why}), is {state}",
                )
        accounts = result.get("accounts") or {}
        for label, why in accounts.items():
            say(f"   account {label}: {why or 'reached'}")
        checks.expect(accounts.get(f"{SPOKE} ({SPOKE_NAME})", "missing") is None, f"spoke {SPOKE} reached")
        checks.expect("AccessDenied" in str(accounts.get(REFUSING)), f"{REFUSING} reported as not reached")
        checks.expect(result.get("severity") == "HIGH", f"summary HIGH (an account not reached), got {result}")

        say("\n2. Calls made in the spoke, forwarded to the hub's bus, judged in the spoke")
        prod = next(b for b in spoke_boxes if b.cluster == "prod").instance_id
        for name, severity in SPOKE_EVENTS:
            answer = eks.lambda_handler(forwarded(name, prod), FakeContext("eksguard-EksApiAlert", timeout_ms=120_000))
            say(f"   {name}: [{answer.get('severity')}] {answer.get('title')}")
            checks.expect(
                answer.get("status") == "alerted" and answer.get("severity") == severity,
                f"{name} from the spoke queues a {severity} alert, got {answer.get('status')}/{answer.get('severity')}",
            )
        spoke_alerts = [a for a in queued_alerts(world) if a.get("account") == SPOKE]
        checks.expect(len(spoke_alerts) == len(SPOKE_EVENTS), f"{len(SPOKE_EVENTS)} alerts name account {SPOKE}")

        expected = queued_alerts(world)
        say(f"\n3. SlackNotifierFunction drains the alert queue ({len(expected)} alerts)")
        drain_queue(
            world,
            lambda event: notifier.lambda_handler(event, FakeContext("eksguard-SlackNotifier", timeout_ms=150_000)),
            checks,
        )
        slack.wait_for(len(expected), timeout=5)
        for payload in slack.delivered:
            say(f"   | {payload.get('text', '')}")
        texts = [str(p.get("text", "")) for p in slack.delivered]
        checks.expect(len(texts) == len(expected), f"{len(expected)} Slack messages, got {len(texts)}")
        checks.expect(
            sum(f"({SPOKE} {SPOKE_NAME})" in t for t in texts) == len(SPOKE_EVENTS),
            f"the spoke's alerts name '{SPOKE} {SPOKE_NAME}' in the notification line",
        )
        summary: dict[str, Any] = next((p for p in slack.delivered if "Scheduled stop" in str(p.get("text"))), {})
        checks.expect(REFUSING in json.dumps(summary), "the stop summary in Slack names the account not reached")
    return checks


def main() -> int:
    return demo.run_demo(
        "eksguard organisation demo: a hub, a spoke, a spoke that refuses the hub (moto + Slack stand-in)",
        "eksguard-demo-org-",
        lambda log_file, _path: run(log_file),
    )


if __name__ == "__main__":
    sys.exit(main())
