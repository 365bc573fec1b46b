from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from agentic_django.services.cleanup import cleanup


class Command(BaseCommand):
    help = "Delete expired agent sessions and execution traces past their retention, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, dry_run: bool, batch_size: int | None, **options: Any) -> None:
        verb = "would delete" if dry_run else "deleted"

        def report(kind: str, count: int) -> None:
            self.stdout.write(f"{kind}: {verb} {count}")

        cleanup(dry_run=dry_run, batch_size=batch_size, report=report)
