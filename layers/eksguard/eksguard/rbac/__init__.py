"""Kubernetes RBAC writes from the EKS audit log: who became (or stopped being) cluster admin through a
binding or a role.

Pure modules: `model` (RBAC objects as the API server decodes them), `power` (admin-equivalent roles,
aggregation included), `builtin` (the Kubernetes bootstrap roles), `carriers` (IAM principals behind a
user name or group), `decode` (audit entry -> change), `rules` (the verdict table), `verdict`
(findings -> alert). `state` keeps what eksguard has seen of the cluster's roles and bindings.
"""
