"""Ground truth: each cluster's live access state, who is cluster admin through which door, and changes.

`model` holds what was read, `admins` computes the effective admins (pure), `compare` turns two
inventories into alerts (pure), `digest` renders the weekly digest (pure). The gateways (`eks_api`,
`kube_api`) and the store are the I/O edges; `run` ties them together for the handler.
"""
