"""aws-auth ConfigMap watch: audit-log decoding, mapping parsing, semantic diff, verdicts, state, enrolment.

Pure modules (`logs_payload`, `decode`, `mapping`, `diff`, `verdict`) take plain data and return plain
data. `state` (DynamoDB) and `enrol` (CloudWatch Logs, EKS) are the only modules that talk to AWS.
"""
