"""Semantic diff of two aws-auth contents: who was mapped, unmapped, or changed groups."""

from __future__ import annotations

from dataclasses import dataclass

from eksguard.aws_auth.mapping import AwsAuthContent, MapEntry


@dataclass(frozen=True)
class EntryChange:
    before: MapEntry
    after: MapEntry

    @property
    def groups_added(self) -> tuple[str, ...]:
        return tuple(g for g in self.after.groups if g not in self.before.groups)

    @property
    def groups_removed(self) -> tuple[str, ...]:
        return tuple(g for g in self.before.groups if g not in self.after.groups)


@dataclass(frozen=True)
class AwsAuthDiff:
    added: tuple[MapEntry, ...] = ()
    removed: tuple[MapEntry, ...] = ()
    changed: tuple[EntryChange, ...] = ()
    masters_entered: tuple[MapEntry, ...] = ()
    masters_left: tuple[MapEntry, ...] = ()
    node_roles_added: tuple[MapEntry, ...] = ()
    node_roles_removed: tuple[MapEntry, ...] = ()
    accounts_added: tuple[str, ...] = ()
    accounts_removed: tuple[str, ...] = ()


def diff_contents(before: AwsAuthContent | None, after: AwsAuthContent) -> AwsAuthDiff:
    """`before=None` (nothing known) diffs against an empty ConfigMap: everything counts as added."""
    old = before.by_key() if before else {}
    new = after.by_key()
    added = tuple(e for k, e in new.items() if k not in old)
    removed = tuple(e for k, e in old.items() if k not in new)
    changed = tuple(
        EntryChange(old[k], e)
        for k, e in new.items()
        if k in old and (old[k].groups != e.groups or old[k].username != e.username or old[k].arn != e.arn)
    )
    masters_entered = tuple(e for k, e in new.items() if e.is_master and not (k in old and old[k].is_master))
    masters_left = tuple(e for k, e in old.items() if e.is_master and not (k in new and new[k].is_master))
    node_added = tuple(e for k, e in new.items() if e.is_node and not (k in old and old[k].is_node))
    node_removed = tuple(e for k, e in old.items() if e.is_node and not (k in new and new[k].is_node))
    old_accounts = set(before.accounts) if before else set()
    new_accounts = set(after.accounts)  # a set: membership per account stays O(1) (was a tuple scan)
    return AwsAuthDiff(
        added=added,
        removed=removed,
        changed=changed,
        masters_entered=masters_entered,
        masters_left=masters_left,
        node_roles_added=node_added,
        node_roles_removed=node_removed,
        accounts_added=tuple(a for a in dict.fromkeys(after.accounts) if a not in old_accounts),
        accounts_removed=tuple(a for a in dict.fromkeys(before.accounts if before else ()) if a not in new_accounts),
    )
