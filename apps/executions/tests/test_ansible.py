"""The ansible step on a real worker: real ansible-runner runs on localhost and over real SSH."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from ansflow.testing import wait_until
from apps.accounts.services import credential_create
from apps.executions.services import execution_cancel
from apps.k8s_integration.choices import InventorySource
from apps.k8s_integration.models import Inventory
from apps.k8s_integration.services import inventory_host_set, target_create

from .helpers import log_text, pipeline_yaml, project, run, start, statuses, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


def _secret(name: str, value: str) -> None:
    credential_create(actor=superuser(), project=project(), name=name, kind="secret_text", fields={"secret": value})


def test_inline_playbook_on_localhost_streams_events_and_publishes_the_recap():
    _secret("api", "s3cr3t-value-42")
    execution = run(
        pipeline_yaml(
            "ansible-local",
            """
            - id: play
              type: ansible
              env: {API_TOKEN: {secret: api.secret}}
              with:
                extra_vars: {who: "{{ inputs.who }}"}
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - name: say hello
                        ansible.builtin.command: echo hello-{{ who }} on {{ inventory_hostname }}
                      - name: complain
                        ansible.builtin.shell: echo to-stderr >&2
                      - name: hidden
                        ansible.builtin.command: echo {{ lookup('env', 'API_TOKEN') }}
                        no_log: true
                      - name: leaky
                        ansible.builtin.debug: {msg: "token {{ lookup('env', 'API_TOKEN') }}"}
                      - name: untouched
                        ansible.builtin.debug: {msg: nothing}
                        changed_when: false
            """,
            extra="inputs: {who: {type: string, default: world}}\ncredentials: [api]\n",
        )
    )
    assert statuses(execution) == {"play": "success"}, log_text(execution)
    lines = log_text(execution, "play")
    assert "TASK [say hello]" in lines
    assert "changed: [localhost]" in lines
    assert "    stdout: hello-world on localhost" in lines
    assert "    stderr: to-stderr" in lines
    assert "    msg: token ***" in lines
    assert not any("s3cr3t-value-42" in line for line in lines)
    assert lines.index("TASK [say hello]") < lines.index("TASK [complain]") < lines.index("PLAY RECAP")
    outputs = execution.steps.get(step_id="play").outputs
    assert outputs["ok"] == "5"
    assert outputs["changed"] == "3"
    assert outputs["failed"] == "0"
    assert json.loads(outputs["recap"])["localhost"]["changed"] == 3


def test_tags_skip_tags_check_mode_and_limit(tmp_path):
    made, checked, other = tmp_path / "made", tmp_path / "checked", tmp_path / "other"
    execution = run(
        pipeline_yaml(
            "ansible-tags",
            f"""
            - id: play
              type: ansible
              with:
                tags: [one, two]
                skip_tags: two
                limit: localhost
                inventory_inline: |
                  localhost ansible_connection=local
                  elsewhere ansible_connection=local
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - {{name: tagged one, ansible.builtin.file: {{path: "{made}", state: touch}}, tags: [one]}}
                      - {{name: tagged two, ansible.builtin.file: {{path: "{other}", state: touch}}, tags: [two]}}
            - id: dry
              type: ansible
              needs: [play]
              with:
                check: true
                diff: true
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - ansible.builtin.copy: {{dest: "{checked}", content: "hello"}}
            """,
        )
    )
    assert statuses(execution) == {"play": "success", "dry": "success"}, "\n".join(log_text(execution))
    assert made.exists()
    assert not other.exists()
    assert not checked.exists()
    recap = json.loads(execution.steps.get(step_id="play").outputs["recap"])
    assert list(recap) == ["localhost"]
    assert execution.steps.get(step_id="dry").outputs["changed"] == "1"


def test_a_failed_task_fails_the_step_and_names_the_host():
    execution = run(
        pipeline_yaml(
            "ansible-fail",
            """
            - id: play
              type: ansible
              with:
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - {name: boom, ansible.builtin.command: /bin/false}
                      - {name: never, ansible.builtin.debug: {msg: unreachable}}
            """,
        )
    )
    step = execution.steps.get(step_id="play")
    assert step.status == "failed"
    assert step.error == "ansible-playbook exited with code 2 (failed on localhost)"
    lines = log_text(execution, "play")
    assert "failed: [localhost]" in lines
    assert "TASK [never]" not in lines
    # The failed play still publishes its recap, and the run page shows it per host.
    assert json.loads(step.outputs["recap"])["localhost"]["failed"] == 1
    from django.test import Client

    client = Client()
    client.force_login(superuser())
    page = client.get(f"/executions/{execution.pk}/summary/").content.decode()
    assert 'data-recap="play"' in page
    assert '<tr class="s-failed"><td><code>localhost</code></td><td>0</td><td>0</td><td>1</td>' in page


def test_cancel_stops_ansible_and_its_children(tmp_path):
    pid_file = tmp_path / "pid"
    execution = start(
        pipeline_yaml(
            "ansible-cancel",
            f"""
            - id: play
              type: ansible
              with:
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - ansible.builtin.shell: "echo $$ > {pid_file}; exec sleep 300"
            """,
        )
    )
    pid = wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60, message="task started")
    execution_cancel(actor=superuser(), execution=execution)
    done = wait_done(execution)
    assert done.status == "canceled"
    assert statuses(done) == {"play": "canceled"}
    wait_until(lambda: not psutil.pid_exists(int(pid)) or psutil.Process(int(pid)).status() == "zombie", timeout=15)


def test_missing_inventory_or_playbook_fails_with_a_clear_message():
    execution = run(
        pipeline_yaml(
            "ansible-missing",
            """
            - id: no-inventory
              type: ansible
              with: {inventory: production, plays: []}
            - id: no-playbook
              type: ansible
              with: {playbook: deploy/site.yml}
            """,
        )
    )
    assert execution.steps.get(step_id="no-inventory").error == (
        "inventory 'production' is not configured in project eng (add it in the admin under Inventories)"
    )
    assert execution.steps.get(step_id="no-playbook").error == (
        "playbook 'deploy/site.yml' is not in the workspace (check it out with a git step)"
    )


def test_git_checkout_then_playbook_over_ssh_with_an_inventory_object(git_repo, sshd):
    actor = superuser()
    credential_create(
        actor=actor,
        project=project(),
        name="deploy-key",
        kind="ssh_key",
        fields={"username": "root", "private_key": sshd.private_key},
    )
    inventory = target_create(
        actor=actor,
        model=Inventory,
        project=project(),
        name="web",
        source=InventorySource.MANAGED,
        variables={"greeting": "from-inventory"},
    )
    inventory_host_set(
        actor=actor,
        inventory=inventory,
        name="web1",
        groups=["webservers"],
        variables={"ansible_host": "127.0.0.1", "ansible_port": sshd.port, "ansible_python_interpreter": "python3"},
    )
    execution = run(
        pipeline_yaml(
            "ansible-ssh",
            f"""
            - id: checkout
              type: git
              with: {{repository: "{git_repo["path"]}"}}
            - id: deploy
              type: ansible
              needs: [checkout]
              with: {{playbook: site.yml, inventory: web, credential: deploy-key, limit: webservers}}
            - id: greet
              type: ansible
              needs: [checkout]
              with:
                inventory: web
                credential: deploy-key
                plays:
                  - hosts: webservers
                    gather_facts: false
                    tasks:
                      - ansible.builtin.command: echo {{{{ greeting }}}} via $SSH_CONNECTION
            """,
            extra="credentials: [deploy-key]\n",
        ),
        timeout=120,
    )
    assert statuses(execution) == {"checkout": "success", "deploy": "success", "greet": "success"}, log_text(execution)
    assert "    stdout: from-git-playbook web1" in log_text(execution, "deploy")
    greet = [line for line in log_text(execution, "greet") if "stdout:" in line]
    assert greet
    assert greet[0].startswith("    stdout: from-inventory via 127.0.0.1 ")
    assert json.loads(execution.steps.get(step_id="deploy").outputs["recap"]) == {
        "web1": {"ok": 1, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
    }
    assert not any("PRIVATE KEY" in line for line in log_text(execution))


def test_timeout_stops_the_play_and_its_module_processes(tmp_path):
    pid_file = tmp_path / "pid"
    execution = run(
        pipeline_yaml(
            "ansible-timeout",
            f"""
            - id: play
              type: ansible
              timeout: 12s
              with:
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - ansible.builtin.shell: "echo $$ > {pid_file}; exec sleep 300"
            """,
        )
    )
    step = execution.steps.get(step_id="play")
    assert (step.status, step.error) == ("timed_out", "timed out after 12 s"), "\n".join(log_text(execution))
    pid = int(pid_file.read_text())
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", timeout=15)


def test_the_deploy_with_ansible_example_runs_green(git_repo, sshd):
    actor = superuser()
    credential_create(
        actor=actor, project=project(), name="deploy-key", kind="ssh_key",
        fields={"username": "root", "private_key": sshd.private_key},
    )  # fmt: skip
    target_create(
        actor=actor,
        model=Inventory,
        project=project(),
        name="web",
        source=InventorySource.INI,
        content=f"[webservers]\nweb1 ansible_host=127.0.0.1 ansible_port={sshd.port}\n"
        "[webservers:vars]\nansible_python_interpreter=/usr/bin/python3\n",
    )
    text = (Path(settings.BASE_DIR) / "examples" / "deploy-with-ansible.yaml").read_text()
    execution = run(text.replace("project: demo", "project: eng"), inputs={"repository": git_repo["path"]}, timeout=120)
    assert execution.status == "success", "\n".join(log_text(execution))
    assert "    stdout: from-git-playbook web1" in log_text(execution, "deploy")
    table = log_text(execution, "recap")
    assert table[-1].split() == ["web1", "1", "1", "0", "0", "0", "0", "0"]


def _password_inventory(sshd) -> str:
    return f"box ansible_host=127.0.0.1 ansible_port={sshd.port} ansible_python_interpreter=/usr/bin/python3\n"


def _leftovers_with(text: str) -> list[str]:
    """Files that still hold ``text`` among the step's private directories and shared memory."""
    import tempfile

    places = [*Path(tempfile.gettempdir()).glob("ansflow-step-*"), Path("/dev/shm")]
    found = []
    for place in places:
        for path in [place] if place.is_file() else place.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    if text.encode() in path.read_bytes():
                        found.append(str(path))
                except OSError:
                    continue
    return found


ALL_COMMAND_LINES = """
                      - name: every command line while ansible is connected
                        ansible.builtin.shell: |
                          for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f || true; echo; done > ~/argv.txt"""


def _login_credential(sshd, name: str = "login", password: str | None = None) -> None:
    credential_create(
        actor=superuser(), project=project(), name=name, kind="username_password",
        fields={"username": sshd.login.name, "password": password or sshd.login.password},
    )  # fmt: skip


def _no_trace_of(execution, passwords: list[str], command_lines: str) -> None:
    """Not in the log, the steps' errors, a file left behind or a command line (taken while connected)."""
    everything = "\n".join(log_text(execution)) + "".join(step.error for step in execution.steps.all())
    assert "sshpass -d" in command_lines
    assert "ansible-playbook" in command_lines
    for password in passwords:
        assert password not in everything
        assert not _leftovers_with(password)
        assert password not in command_lines


def test_an_ssh_login_with_a_password_never_shows_it(sshd):
    login = sshd.login
    _login_credential(sshd)
    _login_credential(sshd, "bad-login", "not-" + login.password)
    inventory = _password_inventory(sshd)
    execution = run(
        pipeline_yaml(
            "ansible-password-login",
            f"""
            - id: login
              type: ansible
              with:
                credential: login
                inventory_inline: "{inventory}"
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - {{name: who, ansible.builtin.command: whoami}}{ALL_COMMAND_LINES}
            - id: refused
              type: ansible
              with:
                credential: bad-login
                inventory_inline: "{inventory}"
                plays: [{{hosts: all, gather_facts: false, tasks: [{{ansible.builtin.command: whoami}}]}}]
            - id: leak
              type: shell
              env: {{LOGIN: {{secret: login.password}}}}
              run: echo "login=$LOGIN"
            """,
            extra="credentials: [login, bad-login]\n",
        ),
        timeout=180,
    )
    assert statuses(execution) == {"login": "success", "refused": "failed", "leak": "success"}, "\n".join(
        log_text(execution)
    )
    # In as the test account with its password; a wrong password is refused by sshd.
    assert f"    stdout: {login.name}" in log_text(execution, "login")
    assert execution.steps.get(step_id="refused").error == "ansible-playbook exited with code 4 (unreachable: box)"
    assert any("incorrect password" in line for line in log_text(execution, "refused")), log_text(execution, "refused")
    assert "login=***" in log_text(execution, "leak")
    # sshpass and ssh were running when the task listed every command line.
    _no_trace_of(execution, [login.password, "not-" + login.password], (login.home / "argv.txt").read_text())
    # The step's ssh connections (ControlPersist masters) ended with it: no login of the account is left.
    wait_until(
        lambda: not any(p.info["username"] == login.name for p in psutil.process_iter(["username"])),
        timeout=15,
        message="the ssh sessions of the login account end",
    )


def test_become_with_su_types_the_become_password_and_never_shows_it(sshd):
    login, target = sshd.login, sshd.become
    _login_credential(sshd)
    credential_create(
        actor=superuser(), project=project(), name="become-pw", kind="username_password",
        fields={"username": target.name, "password": target.password},
    )  # fmt: skip
    _secret("wrong-become", "not-" + target.password)
    inventory = _password_inventory(sshd)
    # su is not pipelined: ansible puts the module files in /var/tmp and lets the account read them (setfacl).
    become = f"become: true\n                become_method: su\n                become_user: {target.name}"
    execution = run(
        pipeline_yaml(
            "ansible-become",
            f"""
            - id: become
              type: ansible
              with:
                credential: login
                inventory_inline: "{inventory}"
                {become}
                become_credential: become-pw
                plays:
                  - hosts: all
                    gather_facts: false
                    tasks:
                      - {{name: who, ansible.builtin.command: whoami}}{ALL_COMMAND_LINES}
            - id: wrong
              type: ansible
              with:
                credential: login
                inventory_inline: "{inventory}"
                {become}
                become_credential: wrong-become
                plays: [{{hosts: all, gather_facts: false, tasks: [{{ansible.builtin.command: whoami}}]}}]
            - id: leak
              type: shell
              env: {{BECOME: {{secret: become-pw.password}}}}
              run: echo "become=$BECOME"
            """,
            extra="credentials: [login, become-pw, wrong-become]\n",
        ),
        timeout=180,
    )
    assert statuses(execution) == {"become": "success", "wrong": "failed", "leak": "success"}, "\n".join(
        log_text(execution)
    )
    # Logged in as one account, the task ran as the other: su took the become password.
    assert f"    stdout: {target.name}" in log_text(execution, "become")
    # A wrong become password is what su refuses.
    assert execution.steps.get(step_id="wrong").error == "ansible-playbook exited with code 2 (failed on box)"
    assert any("Incorrect su password" in line for line in log_text(execution, "wrong")), log_text(execution, "wrong")
    assert "become=***" in log_text(execution, "leak")
    passwords = [login.password, target.password, "not-" + target.password]
    _no_trace_of(execution, passwords, (target.home / "argv.txt").read_text())
