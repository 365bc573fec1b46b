from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentic_django.conf import agentic_settings
from agentic_django.services.runs import recover_stale


class Command(BaseCommand):
    help = (
        "Mark streaming runs left running by a process that died as failed: each gets a final "
        "error event (code run_lost) and its pending mid-stream approvals expire."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-seconds",
            type=float,
            default=None,
            help="Silence after which a live run is lost "
            f"(default: RUN_STALE_SECONDS, {agentic_settings.RUN_STALE_SECONDS}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="List them, change nothing.")

    def handle(
        self, *args: Any, stale_seconds: float | None, dry_run: bool, **options: Any
    ) -> None:
        if stale_seconds is not None and stale_seconds < 0:
            raise CommandError("--stale-seconds must not be negative.")
        run_ids = recover_stale(stale_seconds, dry_run=dry_run)
        verb = "would mark" if dry_run else "marked"
        for run_id in run_ids:
            self.stdout.write(f"{run_id}: {verb} failed")
        self.stdout.write(f"{len(run_ids)} run(s) {verb} failed.")
