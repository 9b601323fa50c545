"""Seed a local AWS world (moto behind scripts/local_aws_front.py) for the demo and end-to-end tests.

Two regions, eu-west-1 (home) and us-east-1:

    eu-west-1  kubectl-dev-eu    kubectl-instance=dev   active Session Manager session -> kept running
    eu-west-1  kubectl-prod-eu   kubectl-instance=prod                                  -> stopped
    eu-west-1  app-server        (no stop tag)                                          -> untouched
    us-east-1  kubectl-dev-us    kubectl-instance=dev                                   -> stopped
    us-east-1  kubectl-prod-us   kubectl-instance=prod  KeepAliveUntil in two hours     -> kept running

plus the kubectl IAM roles and instance profiles, the alert queue and its dead-letter queue, the
idempotency and aws-auth state tables, the Slack webhook secret, EKS clusters with their audit
log groups and a placeholder for the aws-auth alert function (subscription filter destination).
Resource names match events/env.local.json.

    python scripts/seed_local_world.py --endpoint http://127.0.0.1:5000 \
        --webhook-url http://127.0.0.1:8765/services/T0/B0/local --out world.json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT = "123456789012"
HOME_REGION = "eu-west-1"
OTHER_REGION = "us-east-1"
REGIONS = (HOME_REGION, OTHER_REGION)
STOP_TAG_KEY = "kubectl-instance"
KEEP_ALIVE_TAG_KEY = "KeepAliveUntil"
QUEUE_NAME = "eksguard-alerts"
DEAD_LETTER_QUEUE_NAME = "eksguard-alerts-dlq"
IDEMPOTENCY_TABLE = "eksguard-idempotency"
AUDIT_STATE_TABLE = "eksguard-aws-auth-state"
SECRET_NAME = "eksguard/slack-webhook"
AUDIT_FUNCTION_NAME = "eksguard-AuditLogAlertFunction"
CLUSTERS = ("dev", "prod")
AMI_ID = "ami-12c6146b"  # registered by moto in every region
SESSION_OWNER = f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice"

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@dataclass(frozen=True)
class KubectlBox:
    name: str
    region: str
    cluster: str | None
    instance_id: str
    expected_state: str  # after a stop run
    why: str


@dataclass
class World:
    endpoint: str
    account: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    idempotency_table: str
    audit_state_table: str
    secret_arn: str
    audit_function_arn: str
    boxes: list[KubectlBox] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def box(self, name: str) -> KubectlBox:
        return next(b for b in self.boxes if b.name == name)


def client(service: str, endpoint: str, region: str = HOME_REGION) -> Any:
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        config=_CONFIG,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def put_sessions(endpoint: str, sessions: list[dict[str, Any]], timeout: float = 10.0) -> None:
    """Tell the local front which Session Manager sessions are open."""
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}/_eksguard/sessions",
        method="PUT",
        data=json.dumps({"sessions": sessions}).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local front only
        if response.status != 200:
            raise RuntimeError(f"front refused the sessions: HTTP {response.status}")


def _role(iam: Any, name: str, service: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return arn


def _kubectl_profile(iam: Any, cluster: str) -> str:
    name = f"eksguard-kubectl-{cluster}"
    _role(iam, name, "ec2.amazonaws.com")
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def _launch(ec2: Any, name: str, tags: dict[str, str], profile: str | None = None) -> str:
    spec: dict[str, Any] = {
        "ImageId": AMI_ID,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": "t3.micro",
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()]}
        ],
    }
    if profile:
        spec["IamInstanceProfile"] = {"Name": profile}
    instance_id: str = ec2.run_instances(**spec)["Instances"][0]["InstanceId"]
    return instance_id


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


def seed_world(endpoint: str, webhook_url: str, now: datetime | None = None) -> World:
    """Create everything in a fresh moto; returns what was made (ids, URLs, expected outcomes)."""
    now = now or datetime.now(UTC)
    iam = client("iam", endpoint)
    profiles = {cluster: _kubectl_profile(iam, cluster) for cluster in CLUSTERS}
    eks_role = _role(iam, "eksguard-local-eks-cluster", "eks.amazonaws.com")
    lambda_role = _role(iam, "eksguard-local-lambda", "lambda.amazonaws.com")

    sqs = client("sqs", endpoint)
    dlq_url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": "360",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "12"}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    dynamodb = client("dynamodb", endpoint)
    for table, key in ((IDEMPOTENCY_TABLE, "id"), (AUDIT_STATE_TABLE, "cluster")):
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        )

    secret_arn = client("secretsmanager", endpoint).create_secret(
        Name=SECRET_NAME,
        SecretString=json.dumps({"url": webhook_url}),
        Description="Slack incoming webhook for eksguard alerts (local stand-in)",
    )["ARN"]

    audit_function_arn = client("lambda", endpoint).create_function(
        FunctionName=AUDIT_FUNCTION_NAME,
        Runtime="python3.13",
        Role=lambda_role,
        Handler="placeholder.lambda_handler",
        Code={"ZipFile": _placeholder_zip()},
        Description="placeholder: subscription filter destination",
    )["FunctionArn"]

    for region in REGIONS:
        eks = client("eks", endpoint, region)
        logs = client("logs", endpoint, region)
        for cluster in CLUSTERS:
            eks.create_cluster(
                name=cluster,
                roleArn=eks_role,
                resourcesVpcConfig={"subnetIds": [], "endpointPublicAccess": False},
                logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]},
            )
            if region == HOME_REGION:
                logs.create_log_group(logGroupName=f"/aws/eks/{cluster}/cluster")

    ec2_home = client("ec2", endpoint, HOME_REGION)
    ec2_other = client("ec2", endpoint, OTHER_REGION)
    keep_until = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    boxes = [
        KubectlBox(
            "kubectl-dev-eu",
            HOME_REGION,
            "dev",
            _launch(ec2_home, "kubectl-dev-eu", {STOP_TAG_KEY: "dev"}, profiles["dev"]),
            "running",
            "alice has a Session Manager shell open",
        ),
        KubectlBox(
            "kubectl-prod-eu",
            HOME_REGION,
            "prod",
            _launch(ec2_home, "kubectl-prod-eu", {STOP_TAG_KEY: "prod"}, profiles["prod"]),
            "stopped",
            "tagged, idle",
        ),
        KubectlBox(
            "app-server",
            HOME_REGION,
            None,
            _launch(ec2_home, "app-server", {"team": "payments"}),
            "running",
            "no stop tag",
        ),
        KubectlBox(
            "kubectl-dev-us",
            OTHER_REGION,
            "dev",
            _launch(ec2_other, "kubectl-dev-us", {STOP_TAG_KEY: "dev"}, profiles["dev"]),
            "stopped",
            "tagged, idle",
        ),
        KubectlBox(
            "kubectl-prod-us",
            OTHER_REGION,
            "prod",
            _launch(
                ec2_other, "kubectl-prod-us", {STOP_TAG_KEY: "prod", KEEP_ALIVE_TAG_KEY: keep_until}, profiles["prod"]
            ),
            "running",
            f"{KEEP_ALIVE_TAG_KEY}={keep_until}",
        ),
    ]
    sessions = [
        {
            "SessionId": "alice-0f3c9a1b2d4e5f607",
            "Target": boxes[0].instance_id,
            "Status": "Connected",
            "Owner": SESSION_OWNER,
            "StartDate": (now - timedelta(minutes=12)).timestamp(),
            "Region": HOME_REGION,
        }
    ]
    put_sessions(endpoint, sessions)
    return World(
        endpoint=endpoint,
        account=ACCOUNT,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dead_letter_queue_url=dlq_url,
        idempotency_table=IDEMPOTENCY_TABLE,
        audit_state_table=AUDIT_STATE_TABLE,
        secret_arn=secret_arn,
        audit_function_arn=audit_function_arn,
        boxes=boxes,
        sessions=sessions,
    )


# ------------------------------------------------------------------------------------------ spokes
SPOKE_ROLE_NAME = "eksguard-spoke"


def spoke_client(service: str, endpoint: str, account: str, region: str = HOME_REGION) -> Any:
    """A client acting in another account: moto keeps accounts apart by the credentials an
    sts:AssumeRole into that account returns (what the hub's functions do through the spoke role)."""
    creds = client("sts", endpoint, region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{SPOKE_ROLE_NAME}", RoleSessionName="eksguard-seed"
    )["Credentials"]
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        config=_CONFIG,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def seed_spoke(
    endpoint: str, account: str, busy_session_owner: str = "bob@example.com", stop_value_prefix: str = ""
) -> list[KubectlBox]:
    """A spoke account's kubectl instances in the home region: prod idle, dev with a session open (the
    caller adds the session to the front's). `stop_value_prefix` sets them apart from the hub's boxes
    for a stop run that must not touch those (StopTagValue `spoke-*`); the cluster tag names the cluster."""
    iam = spoke_client("iam", endpoint, account)
    ec2 = spoke_client("ec2", endpoint, account)
    profiles = {cluster: _kubectl_profile(iam, cluster) for cluster in CLUSTERS}

    def tags(cluster: str) -> dict[str, str]:
        return {STOP_TAG_KEY: f"{stop_value_prefix}{cluster}", "eks-cluster": cluster}

    return [
        KubectlBox(
            "spoke-kubectl-prod",
            HOME_REGION,
            "prod",
            _launch(ec2, "spoke-kubectl-prod", tags("prod"), profiles["prod"]),
            "stopped",
            "tagged, idle",
        ),
        KubectlBox(
            "spoke-kubectl-dev",
            HOME_REGION,
            "dev",
            _launch(ec2, "spoke-kubectl-dev", tags("dev"), profiles["dev"]),
            "running",
            f"{busy_session_owner} has a Session Manager shell open",
        ),
    ]


def spoke_session(account: str, box: KubectlBox, owner: str = "bob") -> dict[str, Any]:
    """The open Session Manager session on a spoke's busy box, for the front."""
    return {
        "SessionId": f"{owner}-0a1b2c3d4e5f60718",
        "Target": box.instance_id,
        "Status": "Connected",
        "Owner": f"arn:aws:sts::{account}:assumed-role/Ops/{owner}",
        "Region": box.region,
    }


def spoke_instance_states(endpoint: str, account: str, boxes: list[KubectlBox]) -> dict[str, str]:
    ec2 = spoke_client("ec2", endpoint, account)
    found = ec2.describe_instances(InstanceIds=[b.instance_id for b in boxes])
    by_id = {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}
    return {b.name: by_id.get(b.instance_id, "missing") for b in boxes}


# ------------------------------------------------------------------------------------------ inventory
CI_DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/ci-deployer"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def inventory_world(
    endpoint_of: dict[str, str], ca_data: str
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The EKS access state (for the front) and the Kubernetes objects (for the stand-in) of prod and dev.

    prod: the kubectl role is cluster admin (expected), and `ci-deployer` carries the group `deployers`,
    which a ClusterRoleBinding makes cluster-admin (no log shows it: found by inventory). dev: the
    kubectl role is admin, and the stand-in refuses eksguard's reader (a blind spot)."""
    root = Path(__file__).resolve().parent.parent
    for path in (str(root), str(root / "layers" / "eksguard")):  # tests.kube_world uses the eksguard package
        if path not in sys.path:
            sys.path.insert(0, path)
    from tests.kube_world import aws_auth, cluster_binding, group, with_objects

    def admin(principal: str) -> dict[str, Any]:
        return {
            "principalArn": principal,
            "policies": [{"policyArn": CLUSTER_ADMIN_POLICY, "accessScope": {"type": "cluster"}}],
        }

    clusters: list[dict[str, Any]] = [
        {
            "name": "prod",
            "region": HOME_REGION,
            "endpoint": endpoint_of["prod"],
            "ca": ca_data,
            "endpointPublicAccess": False,
            "endpointPrivateAccess": True,
            "accessEntries": [
                admin(f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-prod"),
                {"principalArn": CI_DEPLOYER, "kubernetesGroups": ["deployers"]},
            ],
        },
        {
            "name": "dev",
            "region": HOME_REGION,
            "endpoint": endpoint_of["dev"],
            "ca": ca_data,
            "accessEntries": [admin(f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-dev")],
        },
    ]
    kube: dict[str, dict[str, Any]] = {
        "prod": {
            "objects": with_objects(
                clusterrolebindings=[cluster_binding("deployers", "cluster-admin", [group("deployers")])]
            ),
            "aws_auth": aws_auth(),
        },
        "dev": {"objects": with_objects(), "aws_auth": aws_auth(), "readers": []},
    }
    return clusters, kube


def seed_inventory(endpoint: str, cluster_host: str) -> bool:
    """Seed the inventory's world through the front (False when the front runs no Kubernetes stand-in)."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_eksguard/kube", timeout=10) as response:  # noqa: S310
            kube = json.loads(response.read())
    except urllib.error.HTTPError:
        return False
    endpoints = {name: f"https://{cluster_host}:{kube['port']}/clusters/{name}" for name in CLUSTERS}
    clusters, objects = inventory_world(endpoints, kube["caData"])
    _put(f"{endpoint.rstrip('/')}/_eksguard/eks", {"clusters": clusters})
    for name, spec in objects.items():
        _put(f"{endpoint.rstrip('/')}/_eksguard/kube/{name}", spec)
    return True


def _put(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local front only
        response.read()


def instance_states(endpoint: str, boxes: list[KubectlBox]) -> dict[str, str]:
    """Current state of each box, by box name."""
    states: dict[str, str] = {}
    for region in {b.region for b in boxes}:
        in_region = {b.instance_id: b.name for b in boxes if b.region == region}
        pages = client("ec2", endpoint, region).describe_instances(InstanceIds=list(in_region))
        for reservation in pages["Reservations"]:
            for instance in reservation["Instances"]:
                states[in_region[instance["InstanceId"]]] = instance["State"]["Name"]
    return states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed the local eksguard world into moto (via the local front).")
    parser.add_argument("--endpoint", required=True, help="local front URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--webhook-url", required=True, help="Slack webhook URL stored in the secret")
    parser.add_argument("--out", help="write the world (ids, URLs) as JSON here")
    args = parser.parse_args(argv)
    world = seed_world(args.endpoint, args.webhook_url)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(world.to_json())
    print(world.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
