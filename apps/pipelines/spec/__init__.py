"""The pipeline language ``ansflow/v1``: parser/validator, JSON Schema, expressions and run-input validation.

Pure Python (no Django models, no database), so the API, the engine and command-line tools share it.
"""

from .durations import parse_duration
from .errors import ExpressionError, InputError, SpecError, SpecIssue
from .expressions import evaluate_condition, render_template, render_value
from .inputs import validate_inputs
from .parser import parse_pipeline
from .schema import API_VERSION, pipeline_json_schema
from .steps import STEP_KINDS, StepKind
from .steps.http import parse_json_path

__all__ = [
    "API_VERSION",
    "STEP_KINDS",
    "ExpressionError",
    "InputError",
    "SpecError",
    "SpecIssue",
    "StepKind",
    "evaluate_condition",
    "parse_duration",
    "parse_json_path",
    "parse_pipeline",
    "pipeline_json_schema",
    "render_template",
    "render_value",
    "validate_inputs",
]
