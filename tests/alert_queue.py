"""Read back what detectors queued: every message body of an SQS queue, deleted as it is read."""

from __future__ import annotations

from eksguard import aws

MAX_RECEIVES = 20  # bound: 200 messages is far more than any test queues


def drain_bodies(url: str, region: str) -> list[str]:
    sqs = aws.client("sqs", region)
    bodies: list[str] = []
    for _ in range(MAX_RECEIVES):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies
