"""Docker hosts over TCP with TLS client certificates: Debian's dockerd with ``--tlsverify`` on 127.0.0.1."""

from __future__ import annotations

import pytest
import requests

from apps.accounts.services import credential_create
from apps.k8s_integration.models import DockerHost
from apps.k8s_integration.services import docker_host_check, target_create

from .helpers import log_text, pipeline_yaml, project, run, statuses, superuser

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


def _tls_host(tls_dockerd, name: str, *, ca=None, client=None, with_client: bool = True) -> DockerHost:
    actor = superuser()
    client = client or tls_dockerd.issued_client
    key = None
    if with_client:
        key = credential_create(
            actor=actor, project=project(), name=f"{name}-key", kind="secret_text", fields={"secret": client.key}
        )
    return target_create(
        actor=actor,
        model=DockerHost,
        project=project(),
        name=name,
        url=tls_dockerd.url,
        tls=True,
        tls_ca_cert=(ca or tls_dockerd.ca).cert,
        tls_client_cert=client.cert if with_client else "",
        tls_client_key=key,
    )


def test_the_connectivity_check_over_tls_says_what_is_wrong(tls_dockerd, monkeypatch):
    # requests would let this replace the host's CA: the host's own must still be the one used.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    actor = superuser()
    url = tls_dockerd.url
    good = _tls_host(tls_dockerd, "tls-good")
    hosts = {
        "tls-wrong-ca": _tls_host(tls_dockerd, "tls-wrong-ca", ca=tls_dockerd.other_ca),
        "tls-no-cert": _tls_host(tls_dockerd, "tls-no-cert", with_client=False),
        "tls-foreign-cert": _tls_host(tls_dockerd, "tls-foreign-cert", client=tls_dockerd.foreign_client),
        "tls-off": target_create(actor=actor, model=DockerHost, project=project(), name="tls-off", url=url),
    }
    ok, message = docker_host_check(actor=actor, host=good)
    assert ok, message
    assert message.startswith("Engine 20.10")
    assert message.endswith("API 1.41")
    answers = {name: docker_host_check(actor=actor, host=host) for name, host in hosts.items()}
    assert answers == {
        "tls-wrong-ca": (
            False,
            f"Docker host tls-wrong-ca ({url}): its TLS certificate is not trusted (unable to get local issuer "
            "certificate); check the host's CA certificate",
        ),
        "tls-no-cert": (
            False,
            f"Docker host tls-no-cert ({url}): the server wants a TLS client certificate; set the host's client "
            "certificate and key",
        ),
        "tls-foreign-cert": (
            False,
            f"Docker host tls-foreign-cert ({url}): the server refused the client certificate; it must be signed "
            "by a CA the server trusts",
        ),
        "tls-off": (False, f"Docker host tls-off ({url}): the server speaks TLS; switch TLS on for this Docker host"),
    }
    good.refresh_from_db()
    assert good.last_check_ok is True
    refused = DockerHost.objects.get(name="tls-no-cert")
    assert refused.last_check_ok is False
    assert refused.last_check_message == answers["tls-no-cert"][1]


def test_build_and_run_on_a_tls_docker_host(tls_dockerd, tmp_path):
    _tls_host(tls_dockerd, "remote")
    execution = run(
        pipeline_yaml(
            "docker-over-tls",
            """
            - id: source
              type: shell
              run: |
                mkdir -p app && cp /bin/busybox app/busybox
                cat > app/Dockerfile <<'EOF'
                FROM scratch
                COPY busybox /bin/busybox
                RUN ["/bin/busybox", "--install", "-s", "/bin"]
                RUN echo "built over TLS" > /greeting
                CMD ["cat", "/greeting"]
                EOF
            - id: build
              type: docker.build
              needs: [source]
              with: {host: remote, context: app, tags: ["ansflow-test/tls:1"]}
            - id: test
              type: docker.run
              needs: [build]
              with: {host: remote, image: "ansflow-test/tls:1", network: none}
            """,
        ),
        timeout=180,
    )
    assert statuses(execution) == {"source": "success", "build": "success", "test": "success"}, "\n".join(
        log_text(execution)
    )
    assert "built over TLS" in log_text(execution, "test")
    image_id = execution.steps.get(step_id="build").outputs["image_id"]
    client = tls_dockerd.client(tmp_path / "client")
    try:
        # The image is on the TLS host, and the run's container is gone.
        assert client.images.get("ansflow-test/tls:1").id == image_id
        assert client.containers.list(all=True, filters={"label": "ansflow.step=test"}) == []
    finally:
        client.close()
