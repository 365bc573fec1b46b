from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentic_django.services.cleanup import cleanup


class Command(BaseCommand):
    help = (
        "Delete what has outlived its retention, in batches: finished runs and their events "
        "(RUN_RETENTION_DAYS), traces and their LLM calls (TRACE_RETENTION_DAYS; never the "
        "trace of an approval request still pending, approved or executing), LLM calls "
        "outside any trace (LLM_CALL_RETENTION_DAYS), expired sessions and expired cached "
        "code. Approval requests and the agent settings audit are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go, per kind; delete nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per delete transaction (default: CLEANUP_BATCH_SIZE).",
        )

    def handle(self, *args: Any, dry_run: bool, batch_size: int | None, **options: Any) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        verb = "would delete" if dry_run else "deleted"

        def report(kind: str, count: int) -> None:
            self.stdout.write(f"{kind}: {verb} {count}")

        cleanup(dry_run=dry_run, batch_size=batch_size, report=report)
