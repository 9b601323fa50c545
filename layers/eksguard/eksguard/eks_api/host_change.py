"""Calls that reach into a kubectl instance or its role: SSM, EC2 Instance Connect, EC2, IAM.

Whether a call touches a kubectl instance is decided later against the live inventory; this
module only reads what the call names, as widely as an attacker could spell it:

* instance IDs anywhere in the target fields (`target`, `instanceIds`, `targets[].values`,
  Automation `parameters`, EC2 request wrappers, the response of a call whose request names
  an association instead), found by their shape rather than by one key;
* SSM tag targets (`tag:<key>`, `tag-key`), "every instance" (`InstanceIds: *`) and targets
  eksguard cannot resolve (resource groups), kept apart so the verdict can say "may target";
* instance profiles handed to an instance, from the request and from the response (a launch
  template hides the profile from the request of RunInstances, not from its response);
* IAM role names, since IAM events name a role without its ARN.

No secret leaves this module: SSM tokens, stream URLs, user data, SSH keys and policy
documents are never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eksguard.eks_api.record import CloudTrailRecord, as_dict, as_str
from eksguard.kubectl_hosts import instance_profile_name

INSTANCE_ID_RE = re.compile(r"\bi-(?:[0-9a-f]{17}|[0-9a-f]{8})\b")
# An EventBridge event is at most 256 KB, so it holds far fewer than _MAX_NODES values: padding a
# request cannot push a target out of reach. The bounds only stop a malformed invocation payload.
_MAX_DEPTH = 32
_MAX_NODES = 200_000

SSM_SESSION_EVENTS = frozenset({"StartSession", "ResumeSession"})
# Everything that runs a document on instances: Run Command, Automation, State Manager (one, a batch,
# re-run now), maintenance windows (tasks and their targets) and Change Manager runbooks.
SSM_COMMAND_EVENTS = frozenset(
    {
        "SendCommand",
        "StartAutomationExecution",
        "CreateAssociation",
        "CreateAssociationBatch",
        "UpdateAssociation",
        "StartAssociationsOnce",
        "RegisterTaskWithMaintenanceWindow",
        "UpdateMaintenanceWindowTask",
        "RegisterTargetWithMaintenanceWindow",
        "UpdateMaintenanceWindowTarget",
        "StartChangeRequestExecution",
    }
)
SSH_KEY_EVENTS = frozenset({"SendSSHPublicKey", "SendSerialConsoleSSHPublicKey"})
PROFILE_EVENTS = frozenset({"AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"})
# Calls that launch instances, or describe instances to launch, with an instance profile.
LAUNCH_EVENTS = frozenset(
    {
        "RunInstances",
        "RequestSpotInstances",
        "RequestSpotFleet",
        "CreateFleet",
        "CreateLaunchTemplate",
        "CreateLaunchTemplateVersion",
    }
)
# Calls that swap or move a kubectl instance's disks (an attacker's OS with the kubectl role).
DISK_EVENTS = frozenset({"CreateReplaceRootVolumeTask", "AttachVolume", "DetachVolume"})
EC2_EVENTS = (
    frozenset({"ModifyInstanceAttribute", "CreateTags", "DeleteTags"}) | PROFILE_EVENTS | LAUNCH_EVENTS | DISK_EVENTS
)
ROLE_EVENTS = frozenset(
    {
        "UpdateAssumeRolePolicy",
        "AttachRolePolicy",
        "PutRolePolicy",
        "AddRoleToInstanceProfile",
        "PutRolePermissionsBoundary",
        "DeleteRolePermissionsBoundary",
        # reductions: nothing for the kubectl role, but a deny or a removal on eksguard's own roles blinds it
        "DetachRolePolicy",
        "DeleteRolePolicy",
    }
)
# The instance metadata service: a port forwarded to it from a kubectl instance hands over the role's credentials.
IMDS_HOSTS = frozenset(
    {"169.254.169.254", "fd00:ec2::254", "[fd00:ec2::254]", "instance-data", "instance-data.ec2.internal"}
)
REMOTE_FORWARD_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"

# Request fields that hold what a command does, not where it runs: never scanned for targets.
_COMMAND_TEXT_KEYS = frozenset({"parameters", "comment"})
# ModifyInstanceAttribute fields that do not name an attribute.
_NOT_ATTRIBUTES = frozenset({"instanceid", "dryrun", "attribute", "value"})


@dataclass(frozen=True)
class HostChange:
    """What an instance- or role-touching call names (all optional: failed calls may name nothing)."""

    instance_ids: tuple[str, ...] = ()
    tag_targets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ("tag:Env", values) or ("tag-key", keys)
    all_instances: bool = False  # SSM target InstanceIds=*
    opaque_targets: tuple[str, ...] = ()  # targets eksguard cannot resolve (resource groups)
    target_regions: tuple[str, ...] = ()  # `targetLocations` regions (cross-region Automation, State Manager)
    document: str | None = None
    session_id: str | None = None
    os_user: str | None = None
    attributes: tuple[str, ...] = ()  # ModifyInstanceAttribute
    profiles: tuple[str, ...] = ()  # instance profile names handed to an instance
    profile_unknown: str | None = None  # why the profile a launch uses is not in the record
    forward_hosts: tuple[str, ...] = ()  # remote hosts a port-forwarding session reaches ("?": hidden)
    tags: tuple[tuple[str, str | None], ...] = ()  # CreateTags / DeleteTags
    all_tags: bool = False  # DeleteTags without a tag list removes every tag
    role_name: str | None = None  # IAM events
    policy: str | None = None  # attached policy ARN or inline policy name
    profile_name: str | None = None  # AddRoleToInstanceProfile


def _get(mapping: Any, *names: str) -> Any:
    """A key of a dict, compared case-insensitively (CloudTrail spells EC2 and SSM fields both ways)."""
    if not isinstance(mapping, dict):
        return None
    wanted = {n.lower() for n in names}
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return None


def _walk(value: Any, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, Any]]:
    """(key, value) of every node, bounded in depth and size (a padded record cannot stall it)."""
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    seen = 0
    while stack and seen < _MAX_NODES:
        key, node, depth = stack.pop()
        seen += 1
        yield key, node
        if depth >= _MAX_DEPTH:
            continue
        if isinstance(node, dict):
            stack.extend((str(k), v, depth + 1) for k, v in node.items() if str(k).lower() not in skip)
        elif isinstance(node, list):
            stack.extend((key, v, depth + 1) for v in node)


def instance_ids_in(value: Any, skip: frozenset[str] = frozenset()) -> tuple[str, ...]:
    found: list[str] = []
    for _, node in _walk(value, skip):
        if isinstance(node, str):
            found.extend(m for m in INSTANCE_ID_RE.findall(node) if m not in found)
    return tuple(found)


def _ssm_targets(
    containers: list[Any],
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], bool, tuple[str, ...], tuple[str, ...]]:
    """(tag targets, every instance, unresolvable targets, target regions) from every `targets` list
    (request, batch entries, runbooks, the association or command echoed in the response) and every
    `targetLocations` (cross-account and cross-region Automation and State Manager)."""
    tag_targets: list[tuple[str, tuple[str, ...]]] = []
    everything = False
    opaque: list[str] = []
    regions: list[str] = []
    for key_name, node in _walk(containers):
        lowered_key = key_name.lower()
        if lowered_key == "targetlocations" and isinstance(node, dict):
            raw = _get(node, "regions")
            for region in raw if isinstance(raw, list) else []:
                if str(region) not in regions:
                    regions.append(str(region))
        if lowered_key != "targets" or not isinstance(node, dict):
            continue
        key = as_str(_get(node, "key")) or ""
        raw_values = _get(node, "values")
        values = tuple(str(v) for v in raw_values) if isinstance(raw_values, list) else ()
        lowered = key.lower()
        if lowered == "instanceids" and "*" in values:
            everything = True
        elif lowered.startswith("tag:") or lowered == "tag-key":
            target = (key if lowered == "tag-key" else "tag:" + key[4:], values)
            if target not in tag_targets:
                tag_targets.append(target)
        elif lowered not in ("instanceids", "parametervalues", ""):
            label = f"{key}={','.join(values)}" if values else key
            if label not in opaque:
                opaque.append(label)
    return tuple(tag_targets), everything, tuple(opaque), tuple(regions)


def _profiles(record: CloudTrailRecord) -> tuple[str, ...]:
    names: list[str] = []
    for container in (record.request, record.response):
        for key, node in _walk(container):
            if key.lower() != "iaminstanceprofile" or not isinstance(node, dict):
                continue
            name = as_str(_get(node, "name")) or instance_profile_name(as_str(_get(node, "arn")))
            if name and name not in names:
                names.append(name)
    return tuple(names)


def _tag_items(tag_set: Any) -> list[Any]:
    items = _get(tag_set, "items") if isinstance(tag_set, dict) else tag_set
    return items if isinstance(items, list) else []


def _tags(request: dict[str, Any]) -> tuple[tuple[tuple[str, str | None], ...], bool]:
    """Tags set or removed: CreateTags/DeleteTags `tagSet`, or the instance tags RunInstances launches with."""
    items = _tag_items(_get(request, "tagSet", "tags"))
    for spec in _tag_items(_get(request, "tagSpecificationSet")):
        if (as_str(_get(spec, "resourceType")) or "instance") == "instance":
            items += _tag_items(_get(spec, "tags", "tag"))
    pairs: list[tuple[str, str | None]] = []
    for item in items:
        key = as_str(_get(item, "key"))
        if key is not None:
            pairs.append((key, as_str(_get(item, "value"))))
    return tuple(pairs), not pairs


def _attributes(request: dict[str, Any]) -> tuple[str, ...]:
    names = [str(k) for k in request if str(k).lower() not in _NOT_ATTRIBUTES]
    named = as_str(_get(request, "attribute"))
    if named:
        names.append(named)
    return tuple(dict.fromkeys(names))


def _forward_hosts(request: dict[str, Any]) -> tuple[str, ...]:
    parameters = _get(request, "parameters")
    if not isinstance(parameters, dict):
        return ("?",)  # hidden or absent: the remote host cannot be told
    hosts = _get(parameters, "host")
    values = hosts if isinstance(hosts, list) else [hosts]
    return tuple(str(h).strip().lower() for h in values if h is not None) or ("?",)


def _profile_unknown(record: CloudTrailRecord) -> str | None:
    """A launch from a launch template whose response (the only place naming the profile) is missing."""
    uses_template = any("launchtemplate" in key.lower() for key, _ in _walk(record.request))
    response = record.response
    if uses_template and (not response or response.get("omitted") is True):
        return "the instance profile comes from a launch template and the response is not in the record"
    return None


def extract_host_change(record: CloudTrailRecord) -> HostChange | None:
    """The HostChange of an SSM, EC2 Instance Connect, EC2 or IAM call; None for other calls."""
    name, request = record.event_name, record.request
    if name in ROLE_EVENTS:
        return HostChange(
            role_name=as_str(_get(request, "roleName")),
            policy=as_str(_get(request, "policyArn", "permissionsBoundary")) or as_str(_get(request, "policyName")),
            profile_name=as_str(_get(request, "instanceProfileName")),
        )
    if name in SSM_SESSION_EVENTS:
        document = as_str(_get(request, "documentName"))
        return HostChange(
            instance_ids=instance_ids_in(_get(request, "target")),
            document=document,
            session_id=as_str(_get(request, "sessionId")) or as_str(_get(record.response, "sessionId")),
            forward_hosts=_forward_hosts(request) if document and REMOTE_FORWARD_DOCUMENT in document else (),
        )
    if name in SSM_COMMAND_EVENTS:
        # UpdateAssociation and StartAssociationsOnce may name no target: the association's own targets
        # are then in the response, or nowhere in the record (said, never taken as "no target").
        containers = [request, as_dict(record.response)]
        tag_targets, everything, opaque, regions = _ssm_targets(containers)
        skip = _COMMAND_TEXT_KEYS if name != "StartAutomationExecution" else frozenset({"comment"})
        ids = instance_ids_in(containers, skip)
        if not (ids or tag_targets or everything or opaque):
            where = "Automation parameters, which CloudTrail may hide" if name == "StartAutomationExecution" else "none"
            opaque = (f"targets not in the record ({where})",)
        return HostChange(
            instance_ids=ids,
            tag_targets=tag_targets,
            all_instances=everything,
            opaque_targets=opaque,
            target_regions=regions,
            document=as_str(_get(request, "documentName", "name")),
        )
    if name in SSH_KEY_EVENTS:
        return HostChange(
            instance_ids=instance_ids_in(_get(request, "instanceId")),
            os_user=as_str(_get(request, "instanceOSUser")),
        )
    if name in EC2_EVENTS:
        tags, all_tags = _tags(request) if name in ("CreateTags", "DeleteTags", "RunInstances") else ((), False)
        # A launch names new instances only; the response names the instance of a profile association.
        targets = request if name not in LAUNCH_EVENTS else {}
        ids = instance_ids_in([targets, as_dict(record.response)])
        profiles = _profiles(record) if name in PROFILE_EVENTS | LAUNCH_EVENTS else ()
        return HostChange(
            instance_ids=ids,
            opaque_targets=("the instance is not in the record",) if name in PROFILE_EVENTS and not ids else (),
            attributes=_attributes(request) if name == "ModifyInstanceAttribute" else (),
            profiles=profiles,
            profile_unknown=_profile_unknown(record) if name in LAUNCH_EVENTS and not profiles else None,
            tags=tags,
            all_tags=all_tags and name == "DeleteTags",
        )
    return None
