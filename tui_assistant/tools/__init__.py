"""Local function tools: the registry, the built-ins, plugins, and the runner.

Nothing here imports Textual; the UI supplies the ``ask`` callback that shows a modal.
"""

from tui_assistant.tools.plugins import (
    ENTRY_POINT_GROUP,
    PluginProblem,
    build_registry,
    load_entry_points,
)
from tui_assistant.tools.registry import (
    LocalFunction,
    ToolRegistry,
    function_tool,
    schema_from_signature,
    validate_arguments,
)
from tui_assistant.tools.runner import (
    CallResult,
    HumanAnswer,
    HumanRequest,
    ToolOutputWithImages,
    ToolRunner,
    error_output,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CallResult",
    "HumanAnswer",
    "HumanRequest",
    "LocalFunction",
    "PluginProblem",
    "ToolOutputWithImages",
    "ToolRegistry",
    "ToolRunner",
    "build_registry",
    "error_output",
    "function_tool",
    "load_entry_points",
    "schema_from_signature",
    "validate_arguments",
]
