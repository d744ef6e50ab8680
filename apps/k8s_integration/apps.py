from django.apps import AppConfig


class K8sIntegrationConfig(AppConfig):
    """Kubernetes clusters as deploy targets, the client factory, the resource browser and Helm."""

    name = "apps.k8s_integration"
    label = "k8s_integration"
    verbose_name = "Kubernetes"

    def ready(self) -> None:
        from . import access

        access.register()
