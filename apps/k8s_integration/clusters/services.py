"""Writes of clusters: create, update, delete and the connectivity check; and the maintainers' actions on a
cluster's resources (scale, restart a rollout, delete a pod). Keyword-only and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from kubernetes import client as k8s

from apps.accounts.choices import CredentialKind
from apps.accounts.models import Project
from apps.accounts.services import audit_record

from ..models import Cluster
from .kube import CLUSTER_CREDENTIAL_KINDS, ClusterError, call, cluster_identity, kube_client
from .selectors import check_name, deployment_row, raw

CLUSTER_FIELDS = ("name", "description", "environment", "server", "ca_bundle", "credential", "default_namespace")

# What the check asks the cluster about the identity, in the default namespace (SelfSubjectAccessReview).
CHECK_RESOURCES = (
    ("", "pods"),
    ("", "pods/log"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("apps", "deployments"),
    ("batch", "jobs"),
)
CHECK_VERBS = ("get", "list", "watch", "create", "patch", "delete")


def _validate(cluster: Cluster) -> None:
    credential = cluster.credential
    if credential.project_id != cluster.project_id:
        raise ValidationError({"credential": "The credential belongs to another project."})
    if credential.kind not in CLUSTER_CREDENTIAL_KINDS:
        kinds = ", ".join(str(kind) for kind in CLUSTER_CREDENTIAL_KINDS)
        raise ValidationError({"credential": f"Needs a credential of kind {kinds}, not {credential.kind}."})
    if not cluster.server and credential.kind != CredentialKind.KUBECONFIG:
        raise ValidationError({"server": "The API server URL is required unless the credential is a kubeconfig."})
    if cluster.server and not cluster.server.startswith("https://"):
        raise ValidationError({"server": "The API server must be spoken to over https://."})
    cluster.full_clean()


def _public(cluster: Cluster, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(getattr(cluster, name)) for name in names}


@transaction.atomic
def cluster_create(*, actor: Any, project: Project, **fields: Any) -> Cluster:
    """Creates a cluster of ``project`` from its editable fields (see ``CLUSTER_FIELDS``)."""
    unknown = set(fields) - set(CLUSTER_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a field of a cluster." for name in sorted(unknown)})
    cluster = Cluster(project=project, **fields)
    _validate(cluster)
    cluster.save()
    audit_record(
        actor=actor, verb="cluster.create", target=cluster, project=project, changes=_public(cluster, tuple(fields))
    )
    return cluster


@transaction.atomic
def cluster_update(*, actor: Any, cluster: Cluster, **fields: Any) -> Cluster:
    """Changes the given fields of a cluster; a changed server or credential forgets the last check."""
    locked = Cluster.objects.select_for_update().select_related("credential").get(pk=cluster.pk)
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in CLUSTER_FIELDS:
            raise ValidationError({name: "Not a field of a cluster."})
        before = getattr(locked, name)
        if before != value:
            changes[name] = [str(before), str(value)]
            setattr(locked, name, value)
    _validate(locked)
    if {"server", "ca_bundle", "credential"} & set(changes):
        locked.last_checked_at, locked.last_check_ok, locked.last_check_message = None, None, ""
        locked.last_check_details = {}
    locked.save()
    audit_record(actor=actor, verb="cluster.update", target=locked, project=locked.project, changes=changes)
    return locked


@transaction.atomic
def cluster_delete(*, actor: Any, cluster: Cluster) -> None:
    audit_record(actor=actor, verb="cluster.delete", target=cluster, project=cluster.project)
    cluster.delete()


def cluster_probe(cluster: Cluster) -> dict[str, Any]:
    """Asks the cluster its version and which verbs the identity may use in the default namespace.

    Raises :class:`ClusterError` naming the cause (unreachable, TLS, unauthorized...).
    """
    namespace = cluster.default_namespace
    with kube_client(cluster) as api:
        version = call(cluster, k8s.VersionApi(api).get_code)
        # /version is open to anonymous callers; the reviews below need an accepted credential (else 401).
        allowed: dict[str, list[str]] = {}
        authz = k8s.AuthorizationV1Api(api)
        for group, resource in CHECK_RESOURCES:
            verbs = [
                verb
                for verb in CHECK_VERBS
                if call(
                    cluster, authz.create_self_subject_access_review, _review(namespace, group, resource, verb)
                ).status.allowed
            ]
            allowed[resource] = verbs
    return {
        "version": version.git_version,
        "platform": version.platform,
        "identity": str(cluster_identity(cluster)),
        "namespace": namespace,
        "allowed": allowed,
    }


def _review(namespace: str, group: str, resource: str, verb: str = "list") -> k8s.V1SelfSubjectAccessReview:
    name, _, subresource = resource.partition("/")
    attributes = k8s.V1ResourceAttributes(
        namespace=namespace, group=group, resource=name, subresource=subresource or None, verb=verb
    )
    return k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))


def cluster_check(*, actor: Any, cluster: Cluster) -> tuple[bool, str]:
    """Runs the connectivity check, records its result and time on the cluster, and audits it."""
    try:
        details = cluster_probe(cluster)
        can = details["allowed"]
        summary = ", ".join(f"{resource}: {' '.join(verbs) or '-'}" for resource, verbs in can.items())
        ok = True
        message = f"Kubernetes {details['version']} as {details['identity']}; in {details['namespace']}: {summary}"
    except ClusterError as exc:
        ok, message, details = False, str(exc), {"status": exc.status}
    with transaction.atomic():
        Cluster.objects.filter(pk=cluster.pk).update(
            last_checked_at=timezone.now(),
            last_check_ok=ok,
            last_check_message=message[:4000],
            last_check_details=details,
        )
        audit_record(actor=actor, verb="cluster.check", target=cluster, project=cluster.project, changes={"ok": ok})
    return ok, message


# --- actions on a cluster's resources (maintainers): the cluster is changed first, then the change is audited ---

MAX_REPLICAS = 1000
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MERGE_PATCH = "application/merge-patch+json"


def _audit_action(actor: Any, verb: str, cluster: Cluster, request: Any, changes: dict[str, Any]) -> None:
    with transaction.atomic():
        audit_record(actor=actor, verb=verb, target=cluster, project=cluster.project, changes=changes, request=request)


def deployment_scale(
    *, actor: Any, cluster: Cluster, namespace: str, name: str, replicas: int, request: Any = None
) -> dict[str, Any]:
    """Sets a Deployment's replicas through its scale subresource; audits the count before and after.

    Answers the Deployment's row after the change; raises ValidationError or ClusterError (nothing audited).
    """
    check_name(namespace, "namespace", subdomain=False)
    check_name(name)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= MAX_REPLICAS:
        raise ValidationError({"replicas": f"A whole number from 0 to {MAX_REPLICAS}."})
    with kube_client(cluster) as api:
        apps = k8s.AppsV1Api(api)
        before = (raw(cluster, apps.read_namespaced_deployment_scale, name, namespace).get("spec") or {}).get(
            "replicas", 0
        )
        patch = {"spec": {"replicas": replicas}}
        raw(cluster, apps.patch_namespaced_deployment_scale, name, namespace, patch, _content_type=MERGE_PATCH)
        row = deployment_row(raw(cluster, apps.read_namespaced_deployment, name, namespace))
    changes = {"namespace": namespace, "deployment": name, "replicas": [before, replicas]}
    _audit_action(actor, "cluster.deployment_scale", cluster, request, changes)
    return row


def deployment_restart(
    *, actor: Any, cluster: Cluster, namespace: str, name: str, request: Any = None
) -> dict[str, Any]:
    """Restarts a Deployment's rollout as ``kubectl rollout restart`` does: a new pod-template annotation
    ``kubectl.kubernetes.io/restartedAt``. Answers the Deployment's row; audited."""
    check_name(namespace, "namespace", subdomain=False)
    check_name(name)
    stamp = timezone.now().isoformat()
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    with kube_client(cluster) as api:
        apps = k8s.AppsV1Api(api)
        row = deployment_row(
            raw(cluster, apps.patch_namespaced_deployment, name, namespace, patch, _content_type=MERGE_PATCH)
        )
    changes = {"namespace": namespace, "deployment": name, "restarted_at": stamp}
    _audit_action(actor, "cluster.deployment_restart", cluster, request, changes)
    return row


def pod_delete(*, actor: Any, cluster: Cluster, namespace: str, name: str, request: Any = None) -> None:
    """Deletes a pod (its controller, if any, makes a new one); audited."""
    check_name(namespace, "namespace", subdomain=False)
    check_name(name)
    with kube_client(cluster) as api:
        raw(cluster, k8s.CoreV1Api(api).delete_namespaced_pod, name, namespace)
    _audit_action(actor, "cluster.pod_delete", cluster, request, {"namespace": namespace, "pod": name})
