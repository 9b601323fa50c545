"""One entry a judge cannot handle never fails the delivery (and never hides the other entries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from eksguard.audit_log.payload import DECODE_ERRORS, AuditRecord, unreadable_fields

logger = Logger(child=True)


def judge_guarded(
    record: AuditRecord,
    judge: Callable[[AuditRecord], None],
    report_unreadable: Callable[[AuditRecord, str], None],
    alerts: list[Any],
    cluster: str,
) -> None:
    """Run `judge` on a parsed entry; when it raises on an odd shape, drop the alerts it had added and
    report the entry as unreadable from what can still be read of it (as a truncated line is)."""
    before = len(alerts)
    try:
        judge(record)
    except DECODE_ERRORS as exc:
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
        logger.error(
            "audit_entry_unreadable",
            extra={"reason": why, "cluster": cluster, "topic": record.topic, "log_event_id": record.log_event.id},
        )
        del alerts[before:]
        report_unreadable(AuditRecord(record.log_event, None, unreadable_fields(record), topic=record.topic), why)
