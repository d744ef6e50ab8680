"""A Docker host's page lists its images and containers; maintainers remove them, others may not."""

from __future__ import annotations

import io
import tarfile

import docker
import pytest

from apps.accounts.choices import Role
from apps.accounts.models import AuditEvent
from apps.accounts.tests.factories import make_user_with_role
from apps.k8s_integration.models import DockerHost
from apps.k8s_integration.services import target_create

from .helpers import project, superuser

pytestmark = pytest.mark.django_db


def scratch_image(client: docker.DockerClient, tag: str) -> str:
    dockerfile = b"FROM scratch\nCOPY hello /hello\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("hello", b"hi\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    image, _logs = client.images.build(fileobj=buffer, custom_context=True, tag=tag)
    return image.id


def test_docker_host_page_lists_and_maintainers_remove(client, docker_parts):
    proj = project("dock")
    host = target_create(actor=superuser(), model=DockerHost, project=proj, name="default", url=docker_parts.url)
    engine = docker.DockerClient(base_url=docker_parts.url)
    image_id = scratch_image(engine, "ansflow-page-test:1")
    url = f"/projects/dock/docker-hosts/{host.name}/"
    remove = f"{url}image/{image_id}/remove/"

    viewer = make_user_with_role(proj, Role.VIEWER)
    client.force_login(viewer)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "ansflow-page-test:1" in body
    assert "/remove/" not in body
    assert client.post(remove).status_code == 403
    assert any(image.id == image_id for image in engine.images.list())

    outsider = make_user_with_role(project("elsewhere"), Role.OWNER)
    client.force_login(outsider)
    assert client.get(url).status_code == 404

    maintainer = make_user_with_role(proj, Role.MAINTAINER)
    client.force_login(maintainer)
    assert remove in client.get(url).content.decode()
    response = client.post(remove, follow=True)
    assert response.status_code == 200
    assert not any(image.id == image_id for image in engine.images.list())
    assert AuditEvent.objects.filter(verb="docker_host.image_remove").count() == 1
    again = client.post(remove, follow=True).content.decode()
    assert "No image" in again


def test_an_unreachable_docker_host_says_so(client, tmp_path):
    proj = project("dock-down")
    target_create(actor=superuser(), model=DockerHost, project=proj, name="gone", url=f"unix://{tmp_path}/none.sock")
    client.force_login(superuser())
    page = client.get("/projects/dock-down/docker-hosts/gone/").content.decode()
    assert 'id="docker-error"' in page
    assert "does not answer" in page
