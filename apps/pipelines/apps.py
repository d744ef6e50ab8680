from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    """Pipelines, their immutable versions, the spec parser and validator, and triggers."""

    name = "apps.pipelines"
    label = "pipelines"
    verbose_name = "Pipelines"

    def ready(self) -> None:
        from . import access

        access.register()
