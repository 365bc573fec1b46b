"""Admin for approval requests: review what an agent wants to do, then approve or reject it.

Everyone sees only what ``approvals.visible_to`` allows (their own requests and
those they may decide; superusers everything). Deciding needs the
``approve_approvalrequest`` permission and, per request, ``approvals.may_decide``;
it goes through ``approvals.decide`` like the API, and with the inline task
runner the action is carried out at once (``approval_runs.run_decided_sync``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .admin_readonly import RetainedAdminMixin
from .core.exceptions import ApprovalStateError
from .core.exceptions import PermissionDenied as ApprovalPermissionDenied
from .models import ApprovalDecision, ApprovalKind, ApprovalRequest, ApprovalStatus
from .services import approval_runs, approvals, highlight

logger = logging.getLogger("agentic_django.approvals")

EMPTY = "—"

# --- rendering the stored action -------------------------------------------------------


def highlight_python(code: str) -> SafeString:
    """The stored code, highlighted (one highlighter for every admin page)."""
    return format_html(
        '<pre class="approval-code"><code class="language-python">{}</code></pre>',
        highlight.highlight_python(code),
    )


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


#: A value longer than this many lines of JSON is folded (the reviewer opens it on demand).
FOLD_LINES = 12
#: A table with more rows than this is folded as a whole, its size in the summary.
FOLD_ROWS = 15


def _value(item: Any) -> SafeString:
    """One value as JSON, folded into a ``<details>`` when it is long."""
    text = _json(item)
    lines = text.count("\n") + 1
    if lines <= FOLD_LINES:
        return format_html("<pre>{}</pre>", text)
    size = len(item) if isinstance(item, list | dict) else lines
    label = (
        ngettext("%(count)d item", "%(count)d items", size) % {"count": size}
        if isinstance(item, list | dict)
        else ngettext("%(count)d line", "%(count)d lines", size) % {"count": size}
    )
    return format_html(
        '<details class="approval-fold"><summary>{}</summary><pre>{}</pre></details>', label, text
    )


def json_table(value: Any) -> SafeString:
    """A mapping as a two-column table (key → JSON value); anything else as JSON.

    Long values are folded, and so is a table of many rows, so that one large
    piece of state does not push the decision off the page.
    """
    if not isinstance(value, dict):
        return _value(value)
    if not value:
        return format_html("<p>{}</p>", _t("(empty)"))
    rows = format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((key, _value(item)) for key, item in value.items())
    )
    table = format_html('<table class="approval-table"><tbody>{}</tbody></table>', rows)
    if len(value) <= FOLD_ROWS:
        return table
    summary = ngettext("%(count)d entry", "%(count)d entries", len(value)) % {"count": len(value)}
    return format_html(
        '<details class="approval-fold"><summary>{}</summary>{}</details>', summary, table
    )


def _heading(text: str) -> SafeString:
    return format_html('<h4 class="approval-heading">{}</h4>', text)


def _steps(names: Any) -> SafeString:
    if not names:
        return format_html("<p>{}</p>", EMPTY)
    items = format_html_join("", "<li><code>{}</code></li>", ((name,) for name in names))
    return format_html("<ol>{}</ol>", items)


def render_action(request: ApprovalRequest) -> SafeString:
    """What would run, readably: the code and its data, the tool call, the workflow step."""
    action = request.action if isinstance(request.action, dict) else {}
    parts: list[SafeString] = []
    if request.kind == ApprovalKind.CODE:
        parts += [_heading(_t("Generated code")), highlight_python(str(action.get("code", "")))]
        if action.get("reasoning"):
            parts += [_heading(_t("Reasoning")), format_html("<p>{}</p>", action["reasoning"])]
        parts += [_heading(_t("Data")), json_table(action.get("data"))]
    elif request.kind == ApprovalKind.TOOL_CALL:
        parts += [
            _heading(_t("Tool call")),
            format_html(
                "<p><code>{}</code> ({} {})</p>",
                action.get("tool", ""),
                _t("call"),
                action.get("call_id", ""),
            ),
            _heading(_t("Arguments")),
            json_table(action.get("arguments")),
        ]
    elif request.kind == ApprovalKind.WORKFLOW:
        checkpoint = action.get("checkpoint") or {}
        parts += [
            _heading(_t("Workflow")),
            format_html("<p><code>{}</code></p>", action.get("workflow", "")),
            _heading(_t("Steps waiting for approval")),
            _steps(checkpoint.get("pending")),
            _heading(_t("Completed steps")),
            _steps(checkpoint.get("completed_steps")),
        ]
        if checkpoint.get("reason"):
            parts += [_heading(_t("Reason")), format_html("<p>{}</p>", checkpoint["reason"])]
        parts += [_heading(_t("State")), json_table(checkpoint.get("state"))]
    elif request.kind == ApprovalKind.STREAM:
        parts += [
            _heading(_t("Prompt")),
            format_html("<pre>{}</pre>", _json(action.get("prompt"))),
            _heading(_t("Options")),
            json_table(action.get("options")),
        ]
    else:
        parts.append(json_table({k: v for k, v in action.items() if k != "checkpoint"}))
    return format_html_join("", "{}", ((part,) for part in parts))


# --- deciding ---------------------------------------------------------------------------


def _why_not(user: Any, request: ApprovalRequest) -> str:
    """Why ``may_decide`` said no (for the skipped-requests message)."""
    if not user.has_perm(approvals.APPROVE_PERMISSION):
        return _t("you lack the approve permission")
    if request.requested_by_id == user.pk and not request.allow_self_approval:
        return _t("your own request")
    return _t("you are not among its approvers")


def outcome_message(request: ApprovalRequest, *, approve: bool) -> tuple[int, str]:
    """A message level and text for what became of a request after a decision."""
    name = request.request_id[:12]
    status = request.status
    if status == ApprovalStatus.PENDING:
        return messages.INFO, _t(
            "Your approval of %(id)s is recorded; it waits for the other approvers."
        ) % {"id": name}
    if status == ApprovalStatus.EXECUTED:
        return messages.SUCCESS, _t("Approved %(id)s; it was carried out.") % {"id": name}
    if status == ApprovalStatus.FAILED:
        return messages.WARNING, _t("Approved %(id)s, but carrying it out failed: %(error)s") % {
            "id": name,
            "error": request.error or _t("unknown error"),
        }
    if status in (ApprovalStatus.APPROVED, ApprovalStatus.EXECUTING):
        return messages.SUCCESS, _t("Approved %(id)s; a worker will carry it out.") % {"id": name}
    if status == ApprovalStatus.REJECTED and request.error:
        # A rejected tool call is carried on: the model is told, and that can fail.
        return messages.WARNING, _t("Rejected %(id)s, but telling the agent failed: %(error)s") % {
            "id": name,
            "error": request.error,
        }
    if status == ApprovalStatus.REJECTED:
        return messages.SUCCESS, _t("Rejected %(id)s.") % {"id": name}
    verb = _t("Approved") if approve else _t("Rejected")
    return messages.INFO, f"{verb} {name}: {request.get_status_display()}."


def carry_out(request: ApprovalRequest) -> ApprovalRequest:
    """With the inline runner, run what the decision left to do (a no-op with Celery)."""
    try:
        return approval_runs.run_decided_sync(request)
    except Exception:  # the decision is committed; report, do not turn it into a 500
        logger.exception("Carrying out approval request %s failed", request.request_id)
        request.refresh_from_db()
        return request


# --- the admin --------------------------------------------------------------------------


def _may_view(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        user.has_perm("agentic_django.view_approvalrequest")
        or user.has_perm(approvals.APPROVE_PERMISSION)
    )


class ApprovalDecisionInline(admin.TabularInline):
    """Each approver's decision, read-only, on the request's page."""

    model = ApprovalDecision
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("created_at", "user", "approve", "approver", "reason")
    readonly_fields = fields
    ordering = ("created_at",)
    empty_value_display = EMPTY

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApprovalDecision]:
        return super().get_queryset(request).select_related("user")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(RetainedAdminMixin, admin.ModelAdmin):
    """Pending agent actions first; review the stored action, then approve or reject it.

    Only superusers delete requests, and only closed ones: a pending, approved or
    executing request is an action someone is waiting for.
    """

    change_form_template = "admin/agentic_django/approvalrequest/change_form.html"
    # Narrow columns, so that status, requester and decider stay in view at 1280 px
    # beside the navigation and the filters (time left rides under a pending status).
    list_display = (
        "summary_short",
        "agent",
        "status_and_time_left",
        "requested_by",
        "age",
        "decided_by",
    )
    list_filter = ("status", "endpoint_name", "kind")
    search_fields = ("request_id", "summary", "endpoint_name")
    list_select_related = ("requested_by", "decided_by")
    show_full_result_count = False
    empty_value_display = EMPTY
    actions = ("approve_selected", "reject_selected")
    inlines = (ApprovalDecisionInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "request_id",
                    "summary",
                    "kind",
                    "status_badge",
                    "endpoint_name",
                    "requested_by",
                    "created_at",
                    "expires_at",
                    "time_left",
                    "trace_link",
                )
            },
        ),
        (_("Action to review"), {"fields": ("action_display", "intent_display", "fingerprint")}),
        (
            _("Rule"),
            {
                "fields": (
                    "rule_name",
                    "approvers_display",
                    "require_all_approvers",
                    "allow_self_approval",
                )
            },
        ),
        (_("Decision"), {"fields": ("decided_by", "decided_at", "reason")}),
        (
            _("Outcome"),
            {"fields": ("executed_at", "attempts", "result_pretty", "error", "carried_out_by")},
        ),
    )
    readonly_fields = tuple(name for _title, options in fieldsets for name in options["fields"])

    # --- permissions ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Approvers need the list without being given the view permission separately.
        return _may_view(request)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(approvals.APPROVE_PERMISSION))

    # --- the list ---

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApprovalRequest]:
        if request.user.is_superuser:
            requests = ApprovalRequest.objects.all()
        else:
            requests = approvals.visible_to(request.user)
        return requests.select_related("requested_by", "decided_by")

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        pending_first = Case(
            When(status=ApprovalStatus.PENDING, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        return [pending_first.asc(), "-created_at"]

    @admin.display(description=_("summary"), ordering="summary")
    def summary_short(self, obj: ApprovalRequest) -> str:
        return Truncator(obj.summary or str(obj)).chars(80)

    @admin.display(description=_("agent"), ordering="endpoint_name")
    def agent(self, obj: ApprovalRequest) -> str:
        return format_html(
            '{}<br><small class="quiet">{}</small>', obj.endpoint_name, obj.get_kind_display()
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: ApprovalRequest) -> str:
        if obj.status == ApprovalStatus.PENDING and not obj.is_expired:
            return format_html(
                '<strong class="approval-pending" style="color: #b35c00;">{}</strong>',
                obj.get_status_display(),
            )
        return obj.get_status_display()

    @admin.display(description=_("status"), ordering="status")
    def status_and_time_left(self, obj: ApprovalRequest) -> str:
        badge = self.status_badge(obj)
        if obj.status != ApprovalStatus.PENDING or obj.is_expired:
            return badge
        left = _t("%(time)s left") % {"time": timeuntil(obj.expires_at, depth=1)}
        return format_html('{}<br><small class="quiet">{}</small>', badge, left)

    @admin.display(description=_("age"), ordering="-created_at")
    def age(self, obj: ApprovalRequest) -> str:
        return _t("%(time)s ago") % {"time": timesince(obj.created_at, depth=1)}

    @admin.display(description=_("time left"), ordering="expires_at")
    def time_left(self, obj: ApprovalRequest) -> str:
        if obj.status == ApprovalStatus.EXPIRED or obj.is_expired:
            return _t("expired")
        if obj.status != ApprovalStatus.PENDING:
            return EMPTY
        return timeuntil(obj.expires_at)

    # --- the detail page ---

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> ApprovalRequest | None:
        found = super().get_object(request, object_id, from_field)
        # Like the API: a request whose time is up is shown (and stored) as expired.
        return approvals.expire_if_due(found) if found is not None else None

    @admin.display(description=_("action"))
    def action_display(self, obj: ApprovalRequest) -> str:
        return render_action(obj)

    @admin.display(description=_("intent"))
    def intent_display(self, obj: ApprovalRequest) -> str:
        intent = obj.action.get("intent") if isinstance(obj.action, dict) else None
        return json_table(intent) if intent else EMPTY

    @admin.display(description=_("approvers"))
    def approvers_display(self, obj: ApprovalRequest) -> str:
        if not obj.approvers:
            return _t("anyone with the approve permission")
        return format_html_join(", ", "<code>{}</code>", ((entry,) for entry in obj.approvers))

    @admin.display(description=_("result"))
    def result_pretty(self, obj: ApprovalRequest) -> str:
        return EMPTY if obj.result is None else format_html("<pre>{}</pre>", _json(obj.result))

    @admin.display(description=_("trace"))
    def trace_link(self, obj: ApprovalRequest) -> str:
        if obj.trace_id is None:
            return EMPTY
        return format_html(
            '<a href="{}">{}</a>', self._trace_url(obj.trace_id), _t("The request that stopped")
        )

    def _trace_url(self, pk: int) -> str:
        return reverse(f"{self.admin_site.name}:agentic_django_executiontrace_change", args=[pk])

    @admin.display(description=_("carried out by"))
    def carried_out_by(self, obj: ApprovalRequest) -> str:
        traces = list(obj.execution_traces.order_by("created_at"))
        if not traces:
            return EMPTY
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> {} ({})</div>',
            (
                (
                    self._trace_url(trace.pk),
                    trace.trace_id[:12],
                    trace.get_status_display(),
                    timezone.localtime(trace.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                )
                for trace in traces
            ),
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ApprovalRequest | None = None,
    ) -> HttpResponse:
        can_decide = bool(
            obj is not None
            and obj.status == ApprovalStatus.PENDING
            and not obj.is_expired
            and self.has_approve_permission(request)
            and approvals.may_decide(request.user, obj)
        )
        context["can_decide"] = can_decide
        if can_decide:
            assert obj is not None
            context["decide_url"] = reverse(
                f"{self.admin_site.name}:agentic_django_approvalrequest_decide", args=[obj.pk]
            )
            context["already_decided"] = obj.decisions.filter(user_id=request.user.pk).first()
        elif obj is not None and obj.status == ApprovalStatus.PENDING and not obj.is_expired:
            # A pending request the viewer cannot decide: say why instead of no buttons.
            context["cannot_decide_reason"] = _why_not(request.user, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[Any]:
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="agentic_django_approvalrequest_decide",
        )
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """``POST <pk>/decide/`` with ``decision=approve|reject`` and an optional ``reason``."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_approve_permission(request):
            raise DjangoPermissionDenied
        obj = self.get_object(request, unquote(object_id))
        # Not visible and not decidable look the same: neither reveals the other.
        if obj is None or not approvals.may_decide(request.user, obj):
            raise DjangoPermissionDenied
        decision = request.POST.get("decision")
        if decision not in ("approve", "reject"):
            return HttpResponseBadRequest(_t("The decision must be approve or reject."))
        approve = decision == "approve"
        reason = request.POST.get("reason", "").strip()[:2000]
        try:
            decided = approvals.decide(obj.request_id, request.user, approve=approve, reason=reason)
        except ApprovalPermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        except ApprovalStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            decided = carry_out(decided)
            level, text = outcome_message(decided, approve=approve)
            self.message_user(request, text, level)
            self.log_change(request, decided, self._log_text(approve, reason))
        return redirect(
            reverse(f"{self.admin_site.name}:agentic_django_approvalrequest_change", args=[obj.pk])
        )

    @staticmethod
    def _log_text(approve: bool, reason: str) -> str:
        verb = _t("Approved") if approve else _t("Rejected")
        return f"{verb}: {reason}" if reason else verb

    # --- list actions ---

    @admin.action(description=_("Approve selected requests"), permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        self._decide_many(request, queryset, approve=True)

    @admin.action(description=_("Reject selected requests"), permissions=["approve"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        self._decide_many(request, queryset, approve=False)

    def _decide_many(
        self, request: HttpRequest, queryset: QuerySet[ApprovalRequest], *, approve: bool
    ) -> None:
        user = request.user
        decided: list[ApprovalRequest] = []
        skipped: Counter[str] = Counter()
        conflicts: list[str] = []
        for item in queryset:
            if not approvals.may_decide(user, item):
                skipped[_why_not(user, item)] += 1
                continue
            was_pending = item.status == ApprovalStatus.PENDING
            try:
                result = approvals.decide(item.request_id, user, approve=approve)
            except ApprovalRequest.DoesNotExist:
                skipped[_t("deleted meanwhile")] += 1
                continue
            except ApprovalPermissionDenied:
                skipped[_why_not(user, item)] += 1
                continue
            except ApprovalStateError as exc:
                conflicts.append(str(exc))
                continue
            result = carry_out(result)
            if not was_pending:
                skipped[_t("already decided")] += 1
                continue
            decided.append(result)
            self.log_change(request, result, self._log_text(approve, ""))
        self._report(request, decided, skipped, conflicts, approve=approve)

    def _report(
        self,
        request: HttpRequest,
        decided: list[ApprovalRequest],
        skipped: Counter[str],
        conflicts: list[str],
        *,
        approve: bool,
    ) -> None:
        waiting = [item for item in decided if item.status == ApprovalStatus.PENDING]
        failed = [
            item
            for item in decided
            if item.status == ApprovalStatus.FAILED
            or (item.status == ApprovalStatus.REJECTED and item.error)
        ]
        final = len(decided) - len(waiting)
        if final:
            template = (
                ngettext("Approved %(count)d request.", "Approved %(count)d requests.", final)
                if approve
                else ngettext("Rejected %(count)d request.", "Rejected %(count)d requests.", final)
            )
            self.message_user(request, template % {"count": final}, messages.SUCCESS)
        for item in waiting + failed:
            level, text = outcome_message(item, approve=approve)
            self.message_user(request, text, level)
        if skipped:
            total = sum(skipped.values())
            reasons = "; ".join(f"{count} {why}" for why, count in sorted(skipped.items()))
            self.message_user(
                request,
                ngettext(
                    "Skipped %(count)d request (%(reasons)s).",
                    "Skipped %(count)d requests (%(reasons)s).",
                    total,
                )
                % {"count": total, "reasons": reasons},
                messages.WARNING,
            )
        for conflict in conflicts:
            self.message_user(request, conflict, messages.ERROR)
        if not (decided or skipped or conflicts):
            self.message_user(request, _t("Nothing to decide."), messages.INFO)
