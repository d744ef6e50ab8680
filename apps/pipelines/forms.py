"""Forms of the pipeline pages: import a YAML document, filter the list and the audit log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from apps.accounts.models import Project

from .choices import LastStatus

MAX_YAML_CHARS = 512 * 1024


class ImportForm(forms.Form):
    """A pipeline document for one of the projects where the user may change pipelines."""

    project = forms.ModelChoiceField(queryset=Project.objects.none(), to_field_name="slug", empty_label=None)
    yaml_text = forms.CharField(
        label="Pipeline YAML",
        max_length=MAX_YAML_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
    )
    message = forms.CharField(
        label="Change message", max_length=500, required=False, help_text="Why this version (optional)."
    )

    def __init__(self, *args: Any, projects: QuerySet[Project], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects  # type: ignore[attr-defined]


class PipelineFilterForm(forms.Form):
    """The search box and filters above the pipeline list (all optional)."""

    name = forms.CharField(label="Search", required=False, widget=forms.TextInput(attrs={"placeholder": "name…"}))
    project = forms.ChoiceField(required=False)
    last_status = forms.ChoiceField(
        label="Last status",
        required=False,
        choices=[("", "any")] + [(v, label) for v, label in LastStatus.choices if v],
    )

    def __init__(self, *args: Any, projects: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "all projects"), *projects]  # type: ignore[attr-defined]


class AuditFilterForm(forms.Form):
    """Filters of the audit log page; the names are those of ``AuditEventFilter``."""

    actor = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "username"}))
    verb = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"placeholder": "pipeline. or execution.start"})
    )
    target_type = forms.CharField(
        label="Target type", required=False, widget=forms.TextInput(attrs={"placeholder": "pipelines.pipeline"})
    )
    project = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, projects: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "all projects"), *projects]  # type: ignore[attr-defined]
