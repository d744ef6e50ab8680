"""The policy of the WebSocket routes: what each role is told first (or how it is refused)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.executions.models import Execution
from apps.k8s_integration.models import Cluster

from ..matrix import MEMBERS, ROLES, expect

HELLO, SNAPSHOT, REFUSED = "hello", "snapshot", "HTTP 403"
SOCKETS: dict[str, tuple[Callable[[Execution], str], dict[str, Any]]] = {
    "ws/health/": (lambda run: "/ws/health/", dict.fromkeys(ROLES, HELLO)),
    "ws/executions/<int:execution_id>/": (
        lambda run: f"/ws/executions/{run.pk}/?after=0",
        expect(MEMBERS, SNAPSHOT, anonymous=4401, outsider=4404),
    ),
    "ws/projects/<slug:slug>/": (
        lambda run: f"/ws/projects/{run.project.slug}/",
        expect(MEMBERS, HELLO, anonymous=4401, outsider=4404),
    ),
    # The project's cluster refuses connections: members are told why ({"type": "status", "kind": "error"}).
    "ws/clusters/<int:cluster_id>/pods/<str:namespace>/<str:name>/logs/": (
        lambda run: f"/ws/clusters/{Cluster.objects.get(project=run.project).pk}/pods/default/web-0/logs/?tail=10",
        expect(MEMBERS, "error", anonymous=4401, outsider=4404),
    ),
}
