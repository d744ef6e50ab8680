from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, projects, teams, roles, the permission API, tokens, credentials and audit."""

    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from . import access, signals

        access.register()
        signals.connect()
