"""Patch engines for the write forms a ConfigMap patch can take, replayed on the last known data.

Only maps matter (a ConfigMap's `data` is a map of strings), so strategic merge needs no list
merge keys. Each engine raises PatchError when the patch cannot apply to the data we hold, which
the caller reports as "content unknown" rather than guessing.
"""

from __future__ import annotations

import copy
from typing import Any

from eksguard.audit_log.request import APPLY_PATCH, JSON_PATCH, STRATEGIC_MERGE_PATCH


class PatchError(ValueError):
    """A patch that cannot be replayed on the data we hold (our state is stale or missing)."""


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: object, patch: object) -> object:
    """Strategic merge for maps (all a ConfigMap has): merge semantics plus `$patch: replace|delete`,
    `$retainKeys` and ignorable `$setElementOrder/...`/`$deleteFromPrimitiveList/...` directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    base = dict(target) if isinstance(target, dict) else {}
    if directive == "replace":
        base = {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        base = {k: v for k, v in base.items() if k in retain}
    for key, value in patch.items():
        if str(key).startswith("$"):
            continue
        if value is None:
            base.pop(key, None)
            continue
        merged = strategic_merge_patch(base.get(key), value)
        if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
            base.pop(key, None)
        else:
            base[key] = merged
    return base


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} does not start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"path segment {part!r} not found")
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"path /{'/'.join(parts)} not found")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"array index {last!r} out of range")
    else:
        raise PatchError("cannot add below a scalar")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise PatchError(f"path /{'/'.join(parts)} not found")


def json_patch(target: object, operations: list[Any], lenient: bool = False) -> object:
    """RFC 6902. `lenient` (no earlier state known) creates missing parents, lets `replace` add and
    skips `test`, since the server checked them against data we never saw."""
    doc = copy.deepcopy(target)
    for number, op in enumerate(operations, start=1):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {number} is not a JSON-patch operation")
        kind, parts = op["op"], _pointer(str(op["path"]))
        if lenient and parts and isinstance(doc, dict) and kind in ("add", "replace"):
            node = doc
            for part in parts[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else node
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, parts)
        elif kind == "replace":
            if not lenient:
                _get(doc, parts)
            if parts:
                parent, last = _parent(doc, parts)
                if isinstance(parent, list):
                    parent[int(last)] = copy.deepcopy(op.get("value"))
                else:
                    parent[last] = copy.deepcopy(op.get("value"))
            else:
                doc = copy.deepcopy(op.get("value"))
        elif kind == "test":
            if lenient:
                continue
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"test at {op['path']} does not hold on the data we know")
        elif kind in ("move", "copy"):
            source = _pointer(str(op.get("from", "")))
            if kind == "move":
                doc, value = _remove(doc, source)
            else:
                value = copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        else:
            raise PatchError(f"unknown JSON-patch op {kind!r}")
    return doc


def apply_patch(target: object, intent: object) -> object:
    """Server-side apply approximated without managedFields: the applied keys take the intent's values.
    Keys owned only by this manager and left out of the intent would be removed; without the
    responseObject that is invisible, which the caller records as a note."""
    if not isinstance(intent, dict):
        raise PatchError("apply-patch body is not an object")
    return merge_patch(target, {k: v for k, v in intent.items() if v is not None})


def replay(form: str, document: object, body: object, lenient: bool = False) -> object:
    """Apply a patch body of the named form (audit_log.request: json-patch, apply-patch,
    strategic-merge-patch, anything else a merge patch); PatchError when it does not apply."""
    if form == JSON_PATCH:
        if not isinstance(body, list):
            raise PatchError("a JSON patch is a list of operations")
        return json_patch(document, body, lenient=lenient)
    if form == APPLY_PATCH:
        return apply_patch(document, body)
    if form == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(document, body)
    return merge_patch(document, body)
