"""The agent runtime: tools, the agentic loop, code generation and workflows (pure Python)."""

from __future__ import annotations

from .approval import LoopCheckpoint, ToolApprovalRequired
from .codegen import CodeGenerator, GeneratedCode, make_cache_key
from .loop import LoopConfig, LoopResult, ToolCallRecord, resume_agentic_loop, run_agentic_loop
from .messages import deserialize_messages, serialize_messages
from .tools import FunctionTool, Tool, ToolContext, ToolRegistry, ToolSource, tool
from .workflow import (
    AgentWorkflow,
    Checkpoint,
    WorkflowCheckpoint,
    WorkflowContext,
    WorkflowPaused,
    WorkflowResult,
)

__all__ = [
    "AgentWorkflow",
    "Checkpoint",
    "CodeGenerator",
    "FunctionTool",
    "GeneratedCode",
    "LoopCheckpoint",
    "LoopConfig",
    "LoopResult",
    "Tool",
    "ToolApprovalRequired",
    "ToolCallRecord",
    "ToolContext",
    "ToolRegistry",
    "ToolSource",
    "WorkflowCheckpoint",
    "WorkflowContext",
    "WorkflowPaused",
    "WorkflowResult",
    "deserialize_messages",
    "make_cache_key",
    "resume_agentic_loop",
    "run_agentic_loop",
    "serialize_messages",
    "tool",
]
