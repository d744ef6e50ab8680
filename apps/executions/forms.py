"""Forms of the execution pages: the run form generated from a pipeline's input declarations, and a decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from .choices import Decision

MAX_INPUT_CHARS = 10_000


def _field(name: str, decl: Mapping[str, Any]) -> forms.Field:
    """One form field per input. Every field is optional to Django: ``validate_inputs`` (called by the
    service) decides, and its messages are shown next to the fields."""
    kind = decl.get("type")
    help_parts = [decl.get("description") or ""]
    attrs: dict[str, Any] = {}
    if decl.get("required"):
        attrs["required"] = True
    if kind in ("integer", "number"):
        widget: forms.Widget = forms.NumberInput(attrs={**attrs, "step": "1" if kind == "integer" else "any"})
        for bound in ("minimum", "maximum"):
            if decl.get(bound) is not None:
                attrs_key = "min" if bound == "minimum" else "max"
                widget.attrs[attrs_key] = decl[bound]
                help_parts.append(f"{bound} {decl[bound]}")
    elif kind == "boolean":
        default = decl.get("default")
        choices = [("", "(default)" if default is None else f"(default: {str(default).lower()})"),
                   ("true", "true"), ("false", "false")]  # fmt: skip
        return forms.ChoiceField(label=name, choices=choices, required=False, help_text=help_parts[0])
    elif kind == "choice":
        options = [(str(o).lower() if isinstance(o, bool) else str(o), str(o)) for o in decl.get("enum") or []]
        if not decl.get("required") or decl.get("default") is not None:
            options.insert(0, ("", "(default)"))
        return forms.ChoiceField(label=name, choices=options, required=False, help_text=help_parts[0])
    else:
        widget = forms.TextInput(attrs=attrs)
        if decl.get("pattern"):
            help_parts.append(f"pattern {decl['pattern']}")
    field = forms.CharField(label=name, required=False, max_length=MAX_INPUT_CHARS, widget=widget, strip=False)
    field.help_text = " · ".join(p for p in help_parts if p)
    return field


class RunForm(forms.Form):
    """Fields generated from ``spec.inputs``; initial values are the declared defaults."""

    def __init__(self, *args: Any, inputs: Mapping[str, Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.declared = inputs
        for name, decl in inputs.items():
            self.fields[name] = _field(name, decl)
            self.fields[name].required_input = bool(decl.get("required"))  # type: ignore[attr-defined]
            default = decl.get("default")
            if default is not None:
                self.fields[name].initial = str(default).lower() if isinstance(default, bool) else default

    def given(self) -> dict[str, Any]:
        """The submitted values as text, for ``validate_inputs`` to coerce (empty means "not given")."""
        return {name: self.data.get(name, "") for name in self.declared}


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(required=False, max_length=2000)
