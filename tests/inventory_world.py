"""A local world for the inventory: moto (server) behind the local AWS front, which answers the EKS
access-state APIs moto lacks (scripts/local_eks_api.py), plus the Kubernetes API stand-in
(scripts/kube_standin.py, HTTPS with its own CA, tokens checked and sent to moto's STS as EKS does).
All on 127.0.0.1. Used by the integration and fault tests and by the benchmark.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.kube_world import ACCOUNT, aws_auth, baseline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from kube_standin import KubeStandIn  # noqa: E402
from local_aws_front import AwsFront  # noqa: E402

REGION = "eu-west-1"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
INVENTORY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksguard-inventory"


def admin_entry(principal: str, policy: str = CLUSTER_ADMIN, scope: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"principalArn": principal, "policies": [{"policyArn": policy, "accessScope": scope or {"type": "cluster"}}]}


class LocalWorld:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.front = AwsFront(self.moto_url).start()
        self.kube = KubeStandIn([self.front.url.split("//", 1)[1]], verify_sts=True).start()
        self.clusters: list[dict[str, Any]] = []

    @property
    def endpoint_url(self) -> str:
        return self.front.url

    def reset(self) -> None:
        urllib.request.urlopen(  # noqa: S310 - the local moto server
            urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST"), timeout=10
        ).read()
        self.clusters = []
        self.front.eks.replace([])
        with self.front.lock:
            self.front.accounts.clear()
        with self.kube.lock:
            self.kube.clusters.clear()
            self.kube.requests.clear()

    def add_cluster(
        self,
        name: str,
        *,
        region: str = REGION,
        account: str | None = None,
        entries: list[dict[str, Any]] | None = None,
        objects: dict[str, list[dict[str, Any]]] | None = None,
        config: dict[str, str] | None = None,
        kube: dict[str, Any] | None = None,
        **eks: Any,
    ) -> None:
        """A cluster on both sides: its EKS access state and its Kubernetes API. `kube` adds stand-in
        options (fault, readers); `eks` adds EKS fields (authenticationMode, fault, describeFault, ca).
        `account`: whose cluster it is (default moto's account); the stand-in serves it as `<account>.<name>`,
        so two accounts may each have a cluster of the same name."""
        served = self.served_name(name, account)
        spec = {
            "name": name,
            "region": region,
            "endpoint": self.kube.endpoint(served),
            "ca": self.kube.ca_data,
            "accessEntries": entries if entries is not None else [],
            **({"account": account} if account else {}),
            **eks,
        }
        self.clusters = [
            c for c in self.clusters if (c.get("account"), c["name"], c["region"]) != (account, name, region)
        ] + [spec]
        self.front.eks.replace(self.clusters)
        self.kube.put_cluster(
            served,
            {
                "objects": objects if objects is not None else baseline(),
                "aws_auth": config if config is not None else aws_auth(),
                **(kube or {}),
            },
        )

    @staticmethod
    def served_name(name: str, account: str | None = None) -> str:
        """The cluster's path on the Kubernetes API stand-in (its `cluster` in `requests()`)."""
        return f"{account}.{name}" if account else name

    def requests(self) -> list[dict[str, Any]]:
        with self.kube.lock:
            return list(self.kube.requests)

    def close(self) -> None:
        self.kube.stop()
        self.front.stop()
        self.moto.stop()


@contextmanager
def local_world() -> Iterator[LocalWorld]:
    world = LocalWorld()
    try:
        yield world
    finally:
        world.close()


def make_queue_and_table(region: str = REGION) -> tuple[str, str]:
    """The alert queue and the audit state table, on whatever AWS_ENDPOINT_URL points at."""
    import boto3

    sqs = boto3.client("sqs", region_name=region)
    queue = sqs.create_queue(QueueName="eksguard-alerts")["QueueUrl"]
    dynamodb = boto3.client("dynamodb", region_name=region)
    dynamodb.create_table(
        TableName="eksguard-audit-state",
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return queue, "eksguard-audit-state"


def queued_alerts(queue_url: str, region: str = REGION) -> list[dict[str, Any]]:
    import boto3

    sqs = boto3.client("sqs", region_name=region)
    alerts: list[dict[str, Any]] = []
    for _ in range(50):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages") or []
        if not messages:
            break
        for message in messages:
            alerts.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return alerts


def invoke(event: Any, context: Any) -> dict[str, Any]:
    """InventoryFunction's handler, as Lambda calls it."""
    from inventory_handler import lambda_handler

    result: dict[str, Any] = lambda_handler(event, context)
    return result
