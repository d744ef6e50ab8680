"""Page forms: new token, project member."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from .choices import Role
from .models import Project, Team


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="All my projects", to_field_name="slug"
    )
    read_only = forms.BooleanField(required=False, help_text="Only view, never change anything.")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Leave empty for a token that does not expire."
    )

    def __init__(self, *args: Any, projects: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects  # type: ignore[attr-defined]

    def expires_at(self) -> Any:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class MemberForm(forms.Form):
    """A user (by username) or a team (by slug), and a role."""

    username = forms.CharField(required=False, max_length=150)
    team = forms.CharField(required=False, max_length=64, label="or team")
    role = forms.ChoiceField(choices=Role.choices)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        username, team_slug = cleaned.get("username", "").strip(), cleaned.get("team", "").strip()
        if bool(username) == bool(team_slug):
            raise forms.ValidationError("Give a username or a team, not both.")
        if username:
            user = get_user_model().objects.filter(username=username, is_active=True).first()
            if user is None:
                self.add_error("username", f"No active user {username!r}.")
            cleaned["member"] = ("user", user)
        else:
            team = Team.objects.filter(slug=team_slug).first()
            if team is None:
                self.add_error("team", f"No team {team_slug!r}.")
            cleaned["member"] = ("team", team)
        return cleaned
