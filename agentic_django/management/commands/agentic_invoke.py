"""``manage.py agentic_invoke``: one intent through an endpoint's real pipeline, from the shell."""

from __future__ import annotations

import asyncio
import difflib
import json
import signal
import threading
from types import FrameType
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import HttpResponseBase
from django.urls import NoReverseMatch, reverse

from agentic_django.core.exceptions import AgenticError, http_status_for
from agentic_django.models import AgentRun
from agentic_django.registry import AgentEndpointDef, NotRegistered, agents
from agentic_django.services import pipeline, runs
from agentic_django.services.db import run_db
from agentic_django.services.run_follow import follow
from agentic_django.streaming import TERMINAL_KINDS


class Interrupt:
    """Ctrl-C cancels the invocation (and so its run) instead of killing the command.

    The pipeline runs on asgiref's event loop thread while the main thread waits,
    and only the main thread receives signals: the handler hands the cancellation
    over to the loop. A second Ctrl-C stops the command at once.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.previous: Any = None

    def bind(self) -> None:
        """Called from the invoking coroutine: the task a Ctrl-C cancels."""
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.loop is None or self.task is None:
            raise KeyboardInterrupt
        signal.signal(signal.SIGINT, self.previous)
        self.loop.call_soon_threadsafe(self.task.cancel)


def trace_of(run_pk: int) -> str | None:
    return AgentRun.objects.filter(pk=run_pk).values_list("trace__trace_id", flat=True).first()


def compact(payload: dict[str, Any]) -> str:
    """An event's own fields as one line of JSON (seq, kind and time are shown apart)."""
    fields = {k: v for k, v in payload.items() if k not in ("seq", "kind", "timestamp")}
    return json.dumps(fields, separators=(",", ":"), sort_keys=True, default=str)


class Command(BaseCommand):
    help = (
        "Run an intent through an agent endpoint's real pipeline (policies, LLM, approvals, "
        "trace) and print the answer. The endpoint's DRF authentication and permission "
        "classes do not apply: the operator picks the user with --user (anonymous without "
        "it). Streaming endpoints print their events as they happen with --stream; a "
        "question asked mid-stream waits for a decision made elsewhere (admin, the API) or "
        "for its timeout. Ctrl-C cancels the run. Exits with status 1 when the answer is an "
        "error (HTTP status 400 or more) or the run was cancelled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("endpoint", help="The endpoint's registered name.")
        parser.add_argument("intent", help="What to ask, as a user would type it.")
        parser.add_argument("--user", metavar="USERNAME", help="Run as this user.")
        parser.add_argument(
            "--session", metavar="SESSION_ID", help="Continue this session (the user's own)."
        )
        parser.add_argument(
            "--stream",
            action="store_true",
            help="Print each event of a streaming endpoint: seq, kind, its fields.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Machine output: one JSON object (with --stream, one event per line).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = self.find_endpoint(options["endpoint"])
        if options["stream"] and endpoint.streaming is None:
            raise CommandError(f"--stream: the endpoint {endpoint.name!r} does not stream.")
        self.as_json = options["json"]
        self.show_events = options["stream"]
        user = self.find_user(options["user"])
        with Interrupt() as interrupt:
            invoke = self.invoke_stream if endpoint.streaming else self.invoke
            async_to_sync(invoke)(endpoint, options["intent"], user, options["session"], interrupt)

    # --- lookups ---------------------------------------------------------------------------

    def find_endpoint(self, name: str) -> AgentEndpointDef:
        try:
            return agents.get(name)
        except NotRegistered:
            names = sorted(endpoint.name for endpoint in agents)
            close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
            known = close or names
            label = "Did you mean" if close else "Registered endpoints"
            raise CommandError(
                f"No agent endpoint named {name!r}. {label}: {', '.join(known) or 'none'}."
            ) from None

    def find_user(self, username: str | None) -> Any:
        if username is None:
            return AnonymousUser()
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"The user {username!r} is inactive.")
        return user

    # --- plain endpoints -------------------------------------------------------------------

    async def invoke(
        self,
        endpoint: AgentEndpointDef,
        raw: str,
        user: Any,
        session_id: str | None,
        interrupt: Interrupt,
    ) -> None:
        interrupt.bind()
        try:
            outcome = await pipeline.process_intent(
                agents, endpoint, raw, user=user, session_id=session_id
            )
        except asyncio.CancelledError:
            # The pipeline recorded the trace before letting the cancellation through.
            raise CommandError("Cancelled.") from None
        if isinstance(outcome.response, HttpResponseBase):
            # A handler answered with its own response (a file, a redirect): describe it.
            response = outcome.response
            body = {"http_response": {"status": response.status_code}}
            body["http_response"]["content_type"] = response.get("Content-Type", "")
        else:
            body = outcome.body()
        self.note_session(session_id, outcome.session_id)
        self.report(
            endpoint,
            status_code=outcome.status_code,
            trace_id=outcome.trace_id,
            session_id=outcome.session_id,
            body=body,
        )

    # --- streaming endpoints ---------------------------------------------------------------

    async def invoke_stream(
        self,
        endpoint: AgentEndpointDef,
        raw: str,
        user: Any,
        session_id: str | None,
        interrupt: Interrupt,
    ) -> None:
        interrupt.bind()
        try:
            run = await runs.start_run(agents, endpoint, raw, user=user, session_id=session_id)
        except asyncio.CancelledError:
            raise CommandError("Cancelled before the run started.") from None
        except AgenticError as exc:
            # Refused before it started (a switched-off agent); the refusal is traced.
            raise CommandError(
                f"{endpoint.name} answered {http_status_for(exc)}: {exc or exc.code}."
            ) from None
        if not self.as_json:
            self.stderr.write(f"run {run.run_id}")
        last: dict[str, Any] | None = None
        since = -1
        cancelled = False
        while True:  # once, and once more after a Ctrl-C
            try:
                async for event in follow(run.pk, run.run_id, since):
                    if event is None:
                        continue  # the stream is idle (a keepalive for HTTP clients)
                    since, kind, text = event
                    last = json.loads(text)
                    self.show_event(run.run_id, kind, text, last)
                break
            except asyncio.CancelledError:
                if cancelled:
                    raise
                # Ctrl-C: cancel the run, then read on to its final (cancelled) event.
                cancelled = True
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                runs.cancel_local(run.run_id)
        # Let the run write its status before this event loop closes.
        await runs.wait_local(run.run_id)
        if last is None or last["kind"] not in TERMINAL_KINDS:
            raise CommandError(f"The run {run.run_id} ended without a final event.")
        status_code = 200 if last["kind"] == "final" else int(last.get("status_code", 500))
        # A cancelled run's error event cannot name the trace; the run row does.
        trace_id = last.get("trace_id") or await run_db(trace_of, run.pk)
        self.note_session(session_id, last.get("session_id"))
        self.report(
            endpoint,
            status_code=status_code,
            trace_id=trace_id,
            session_id=last.get("session_id"),
            body=last,
            run_id=run.run_id,
        )

    def show_event(self, run_id: str, kind: str, text: str, payload: dict[str, Any]) -> None:
        if self.show_events:
            if self.as_json:
                self.stdout.write(text)
            else:
                self.stdout.write(f"{payload.get('seq', ''):>4} {kind:<22} {compact(payload)}")
        if kind == "approval_requested":
            approval_id = str(payload.get("approval_id"))
            try:
                where = "in admin or with POST " + reverse(
                    "agentic_django:approval-decision", args=[approval_id]
                )
            except NoReverseMatch:
                where = "in admin"
            self.stderr.write(
                f"Waiting for a decision on approval {approval_id} (run {run_id}): "
                f"{payload.get('prompt', '')!r}. Decide it {where}; it times out after "
                f"{payload.get('timeout_seconds', 0):g}s. Ctrl-C cancels the run."
            )

    # --- output ----------------------------------------------------------------------------

    def note_session(self, asked: str | None, got: str | None) -> None:
        if asked and got and asked != got and not self.as_json:
            self.stderr.write(
                f"The session {asked} is not this user's or has expired: started {got}."
            )

    def report(
        self,
        endpoint: AgentEndpointDef,
        *,
        status_code: int,
        trace_id: str | None,
        session_id: str | None,
        body: dict[str, Any],
        run_id: str | None = None,
    ) -> None:
        """Print the answer (unless its events were printed) and fail on an error."""
        if self.as_json and not self.show_events:
            envelope = {
                "status_code": status_code,
                "trace_id": trace_id,
                "session_id": session_id,
                "body": body,
            }
            if run_id is not None:
                envelope["run_id"] = run_id
            self.stdout.write(json.dumps(envelope, default=str))
        elif not self.as_json:
            if not self.show_events:
                self.stdout.write(json.dumps(body, indent=2, default=str))
            self.stdout.write(
                f"trace {trace_id or '-'}  session {session_id or '-'}  HTTP {status_code}"
            )
        if status_code >= 400:
            message = body.get("error") or body.get("message") or "error"
            raise CommandError(
                f"{endpoint.name} answered {status_code}: {message} (trace {trace_id or '-'})."
            )
