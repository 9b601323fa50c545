"""Why a removed mapping was lost, indexed once per diff, gives the answer of the entry-by-entry reading
(the first dropped item in order about the list, the identity or the position; else a dead entry)."""

from __future__ import annotations

import random

from eksguard.aws_auth.diff import _Breakage
from eksguard.aws_auth.mapping import AwsAuthContent, DroppedEntry, MapEntry, parse_aws_auth


def reference(before: MapEntry, after: AwsAuthContent) -> str | None:
    identity = before.identity.lower()
    for dropped in after.dropped:
        if dropped.index == 0 and dropped.source == before.source and not dropped.unverifiable:
            return f"{dropped.source}: {dropped.reason}"
        if dropped.identity and dropped.identity.lower() == identity:
            return f"{dropped.where}: {dropped.reason}"
        if dropped.identity is None and (dropped.source, dropped.index) == (before.source, before.index):
            return f"{dropped.where}: {dropped.reason}"
    for entry in after.by_key().values():
        if entry.key == before.key and entry.dead_reason:
            return f"{entry.source} item {entry.index}: {entry.dead_reason}"
    return None


def test_indexed_breakage_matches_the_reference_on_random_contents():
    rng = random.Random(7)
    answers: list[str | None] = []
    # Three ARNs with a path: the authenticator's canonical ARNs have none, so those entries are dead.
    roles = [f"arn:aws:iam::111122223333:role/{'team/' if k < 3 else ''}r{k}" for k in range(12)]
    for _ in range(300):
        before = parse_aws_auth(
            {"mapRoles": "".join(f"- rolearn: {arn}\n  username: u\n  groups: [viewers]\n" for arn in roles)}
        )
        dropped: list[DroppedEntry] = []
        for _ in range(rng.randrange(0, 6)):
            source = rng.choice(["mapRoles", "mapUsers"])
            index = rng.choice([0, 0, rng.randrange(1, 13)])
            identity = rng.choice([None, rng.choice(roles).upper(), "arn:aws:iam::1:role/other"])
            dropped.append(
                DroppedEntry(source, index, f"reason {len(dropped)}", identity, unverifiable=rng.random() < 0.3)
            )
        kept = "".join(
            f"- rolearn: {arn}\n  username: {'' if rng.random() < 0.2 else 'u'}\n  groups: [system:masters]\n"
            for arn in roles
            if rng.random() < 0.5
        )
        parsed = parse_aws_auth({"mapRoles": kept})
        after = AwsAuthContent(roles=parsed.roles, users=parsed.users, dropped=tuple(dropped))
        breakage = _Breakage(after)
        for entry in before.entries:
            answer = breakage(entry)
            assert answer == reference(entry, after), (entry, dropped)
            answers.append(answer)
    # every kind of answer was met: none, a dropped item (whole list, identity, position), a dead entry
    assert None in answers
    assert any(a and ": reason" in a and " item " not in a.split(":")[0] for a in answers)
    assert any(a and " item " in a.split(":")[0] and "reason" in a for a in answers)
    assert any(a and "reason" not in a for a in answers)
