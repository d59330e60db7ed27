"""Prebuild's diagnostic codes (scanner and renderer): one place for each code's level and how-to-fix hint."""

from __future__ import annotations

from collections.abc import Iterable

from pikku.cli.model import Diagnostic, Level, Location

SYNTAX_ERROR = "PKU001"
STEP_NAME_NOT_LITERAL = "PKU002"
DUPLICATE_STEP = "PKU003"
UNKNOWN_RPC = "PKU004"
WORKFLOW_NAME_NOT_LITERAL = "PKU005"
WORKFLOW_FUNC_UNRESOLVED = "PKU006"
DUPLICATE_WORKFLOW = "PKU007"
DUPLICATE_RPC = "PKU008"
BAD_EXECUTION_MODE = "PKU009"
BAD_DURATION = "PKU010"
RPC_NAME_NOT_LITERAL = "PKU011"
UNRESOLVED_ANNOTATION = "PKU012"
STEP_NAME_RESERVED_CHAR = "PKU013"
WIRE_NOT_AT_MODULE_LEVEL = "PKU014"
STEP_NOT_AWAITED = "PKU015"
MODULE_NAME_INVALID = "PKU016"
WORKFLOW_ATTRIBUTE_INVALID = "PKU017"
TYPE_NOT_WRITABLE = "PKU018"
GENERATED_CODE_INVALID = "PKU019"
SOURCE_SKIPPED = "PKU020"
SOURCE_TOO_LARGE = "PKU021"
LONE_SURROGATE = "PKU022"
SOURCE_UNREADABLE = "PKU023"
BAD_TIMEOUT = "PKU024"
UNKNOWN_CHILD_WORKFLOW = "PKU025"
# Events (numbered apart from the codes other features add meanwhile).
EVENT_NAME_NOT_LITERAL = "PKU030"
UNKNOWN_EVENT = "PKU031"
EVENT_MODEL_CONFLICT = "PKU032"
# Schedules.
SCHEDULE_ARGUMENT_INVALID = "PKU033"
BAD_CRON = "PKU034"
BAD_TIMEZONE = "PKU035"
SCHEDULE_WORKFLOW_UNKNOWN = "PKU036"
DUPLICATE_SCHEDULE = "PKU037"

_HINTS: dict[str, str] = {
    SYNTAX_ERROR: "fix the syntax error; the rest of the project was still scanned",
    STEP_NAME_NOT_LITERAL: 'name the step with a string literal, or an f-string for a step in a loop: f"charge-{i}"',
    DUPLICATE_STEP: "give every step of a workflow its own name; use an f-string for steps in a loop",
    UNKNOWN_RPC: "decorate the function with @pikku_func(name=...) or correct the rpc name",
    WORKFLOW_NAME_NOT_LITERAL: 'pass the workflow name as a string literal: wire_workflow(name="onboarding", ...)',
    WORKFLOW_FUNC_UNRESOLVED: "pass func= a module-level function defined in, or imported into, this module",
    DUPLICATE_WORKFLOW: "give each workflow its own name",
    DUPLICATE_RPC: "give each @pikku_func its own name=",
    BAD_EXECUTION_MODE: 'use execution_mode="remote" or execution_mode="inline"',
    BAD_DURATION: 'write a number and a unit (ms, s, m, h, d), e.g. "5s", "100ms" or "1h30m"',
    RPC_NAME_NOT_LITERAL: 'pass the rpc name as a string literal: @pikku_func(name="users.create")',
    UNRESOLVED_ANNOTATION: "import the type at module level (it is typed as Any until then)",
    STEP_NAME_RESERVED_CHAR: "use another character in the step name, e.g. '-' or ':'",
    WIRE_NOT_AT_MODULE_LEVEL: "call wire_workflow(...) at module level, as a statement of its own (it may be assigned)",
    STEP_NOT_AWAITED: "await it, or pass it to asyncio.gather(...) / asyncio.create_task(...)",
    MODULE_NAME_INVALID: "rename the file or folder to a Python name (letters, digits, _; no leading digit or keyword)",
    WORKFLOW_ATTRIBUTE_INVALID: "rename the workflow so its client attribute is unique and does not start with __",
    TYPE_NOT_WRITABLE: "annotate with plain names, subscripts and | (import the types at module level)",
    GENERATED_CODE_INVALID: "this is a bug in pikku's code generator: please report it with the name that caused it",
    SOURCE_SKIPPED: "remove it from the source folder, or make it a regular file (a dangling link: point it at one)",
    SOURCE_TOO_LARGE: "split the module, or move generated code or data out of the [tool.pikku] source folders",
    LONE_SURROGATE: "use real characters: a lone surrogate (\\ud800-\\udfff) cannot be stored, sent or encoded",
    SOURCE_UNREADABLE: "make the file readable by the user running prebuild, or move it out of the source folders",
    BAD_TIMEOUT: (
        'give a duration with a unit (ms, s, m, h, d), e.g. timeout="30s", "5m", "1h" or "3d", or a positive '
        "number of seconds; leave timeout= out for no limit"
    ),
    UNKNOWN_CHILD_WORKFLOW: 'wire the child with wire_workflow(name="...", func=...) or correct the workflow name',
    EVENT_NAME_NOT_LITERAL: 'name the event with a string literal: workflow.wait_for_event("approval", Approval)',
    UNKNOWN_EVENT: "send one of the events the workflow's wait_for_event calls name, or add a wait for this one",
    EVENT_MODEL_CONFLICT: "wait for one event name with one payload model everywhere in the workflow",
    SCHEDULE_ARGUMENT_INVALID: (
        "pass name, cron, workflow (and timezone, catchup, overlap when given) as string literals: "
        'wire_schedule(name="nightly-report", cron="0 3 * * *", workflow="report", input={...})'
    ),
    BAD_CRON: (
        'write five fields, minute hour day-of-month month day-of-week: "0 3 * * *" (03:00 daily), '
        '"*/15 * * * *" (every 15 minutes), "0 9 * * mon-fri"; or @daily, @hourly'
    ),
    BAD_TIMEZONE: 'give an IANA timezone name, e.g. timezone="UTC", "Europe/Helsinki" or "America/New_York"',
    SCHEDULE_WORKFLOW_UNKNOWN: "name a workflow wired in this project with wire_workflow(name=...)",
    DUPLICATE_SCHEDULE: "give each schedule its own name",
}
_WARNINGS = frozenset({UNRESOLVED_ANNOTATION, SOURCE_SKIPPED})


def diagnostic(code: str, location: Location, message: str, hint: str | None = None) -> Diagnostic:
    """A diagnostic with the level and hint that belong to ``code`` (``hint`` when one cause needs its own)."""
    level: Level = "warning" if code in _WARNINGS else "error"
    return Diagnostic(level, code, location, message, hint or _HINTS[code])


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Unique diagnostics ordered by place then code, as prebuild prints them."""
    unique = set(diagnostics)
    return tuple(sorted(unique, key=lambda d: (d.location.file, d.location.line, d.location.column, d.code, d.message)))
