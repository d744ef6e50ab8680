from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    """Executions, step executions, log lines and approvals; the engine and the executors."""

    name = "apps.executions"
    label = "executions"
    verbose_name = "Executions"

    def ready(self) -> None:
        from . import access

        access.register()
