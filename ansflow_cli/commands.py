"""One function per command. Each returns the process exit code."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from . import config
from .client import INVALID, NOT_FOUND, OK, Client, CliError
from .follow import Follower
from .output import print_json, print_json_line, print_spec_errors, print_table

EXECUTION_COLUMNS = [("ID", "id"), ("PROJECT", "project"), ("PIPELINE", "pipeline_name"), ("#", "number"),
                     ("STATUS", "status"), ("TRIGGER", "trigger"), ("ACTOR", "actor"), ("CREATED", "created_at"),
                     ("DURATION", "duration")]  # fmt: skip
PIPELINE_COLUMNS = [("ID", "id"), ("PROJECT", "project"), ("NAME", "name"), ("VERSION", "version"),
                    ("LAST STATUS", "last_status"), ("RUNS", "run_count"), ("LAST RUN", "last_run_at")]  # fmt: skip


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", INVALID) from exc


def _spec_call(client: Client, args: argparse.Namespace, endpoint: str) -> Any:
    text = _read(args.file)
    suffix = f"?project={args.project}" if args.project else ""
    try:
        return client.post_yaml(f"pipelines/{endpoint}/{suffix}", text)
    except CliError as exc:
        errors = exc.payload.get("errors") if isinstance(exc.payload, dict) else None
        if exc.code == INVALID and isinstance(errors, list):
            if args.json:
                print_json(exc.payload)
            else:
                print_spec_errors(args.file, errors)
            raise CliError(f"{args.file}: {len(errors)} error(s)", INVALID) from exc
        raise


def cmd_login(client: Client, args: argparse.Namespace) -> int:
    given = client.settings.source in ("--token", "ANSFLOW_TOKEN")
    token = client.settings.token if given else ""
    if not token:
        prompt = f"API token for {client.settings.url} (from `manage.py create_api_token`): "
        token = (getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()).strip()
    if not token:
        raise CliError("no token given", INVALID)
    checked = Client(config.Settings(client.settings.url, token, "login"))
    checked.get("projects/")  # raises a clear error for a wrong URL or token
    path = config.save(client.settings.url, token)
    if args.json:
        print_json({"url": client.settings.url, "config": str(path)})
    else:
        print(f"Signed in to {client.settings.url}; token saved in {path}")
    return OK


def cmd_validate(client: Client, args: argparse.Namespace) -> int:
    result = _spec_call(client, args, "validate")
    if args.json:
        print_json(result)
    else:
        print(f"{args.file}: valid ({len(result['spec']['steps'])} steps)")
    return OK


def cmd_import(client: Client, args: argparse.Namespace) -> int:
    result = _spec_call(client, args, "import")
    if args.json:
        print_json(result)
    else:
        state = "unchanged" if not result.get("changed") else f"version {result['version']}"
        print(f"{result['project']}/{result['name']} (id {result['id']}): {state}")
    return OK


def resolve_pipeline(client: Client, ref: str, project: str | None) -> dict[str, Any]:
    """A pipeline by id, ``project/name`` or name (unique among the pipelines the caller sees)."""
    if ref.isdigit():
        return client.get(f"pipelines/{ref}/")  # type: ignore[no-any-return]
    if "/" in ref and not project:
        project, ref = ref.split("/", 1)
    page = client.get("pipelines/", name=ref, project=project)
    matches = [p for p in page["results"] if p["name"] == ref]
    if not matches:
        raise CliError(f"not found: no pipeline {ref!r}" + (f" in project {project!r}" if project else ""), NOT_FOUND)
    if len(matches) > 1:
        names = ", ".join(f"{p['project']}/{p['name']}" for p in matches)
        raise CliError(f"{ref!r} is ambiguous ({names}): give PROJECT/NAME or --project", INVALID)
    return matches[0]


def _inputs(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--input {pair!r}: expected NAME=VALUE", INVALID)
        values[name] = value
    return values


def _follow(client: Client, args: argparse.Namespace, execution_id: int, after: int = 0) -> int:
    if args.json:
        status = Follower(client, execution_id, after, emit=print_json_line).run()
    else:
        status = Follower(client, execution_id, after).run()
        print(f"execution {execution_id}: {status}", file=sys.stderr)
    return OK if status == "success" else 1


def cmd_run(client: Client, args: argparse.Namespace) -> int:
    pipeline = resolve_pipeline(client, args.pipeline, args.project)
    try:
        execution = client.post(f"pipelines/{pipeline['id']}/run/", {"inputs": _inputs(args.input)})
    except CliError as exc:
        errors = exc.payload.get("errors") if isinstance(exc.payload, dict) else None
        if exc.code == INVALID and isinstance(errors, dict) and isinstance(errors.get("inputs"), dict):
            for name, message in errors["inputs"].items():
                print(f"--input {name}: {message}", file=sys.stderr)
        raise
    if not args.follow:
        if args.json:
            print_json(execution)
        else:
            print(f"execution {execution['id']} ({pipeline['project']}/{pipeline['name']} #{execution['number']}): "
                  f"{execution['status']}")  # fmt: skip
        return OK
    if not args.json:
        print(f"execution {execution['id']} ({pipeline['project']}/{pipeline['name']} #{execution['number']})",
              file=sys.stderr)  # fmt: skip
    return _follow(client, args, execution["id"])


def cmd_logs(client: Client, args: argparse.Namespace) -> int:
    if args.follow:
        return _follow(client, args, args.execution, args.after)
    follower = Follower(client, args.execution, args.after, emit=print_json_line if args.json else None)
    follower.drain()
    return OK


def _show_execution(args: argparse.Namespace, execution: dict[str, Any], verb: str) -> int:
    if args.json:
        print_json(execution)
    else:
        print(f"{verb} execution {execution['id']} (#{execution['number']}): {execution['status']}")
    return OK


def cmd_cancel(client: Client, args: argparse.Namespace) -> int:
    return _show_execution(args, client.post(f"executions/{args.execution}/cancel/"), "canceled")


def cmd_retry(client: Client, args: argparse.Namespace) -> int:
    action = "retry-failed" if args.failed_only else "retry"
    execution = client.post(f"executions/{args.execution}/{action}/")
    if args.follow:
        return _follow(client, args, execution["id"])
    return _show_execution(args, execution, "started")


def cmd_approve(client: Client, args: argparse.Namespace) -> int:
    decision = "reject" if args.reject else "approve"
    step = client.post(f"steps/{args.step}/approve/", {"decision": decision, "comment": args.comment or ""})
    if args.json:
        print_json(step)
    else:
        print(f"step {step['id']} ({step.get('step_id')}): {decision}d, now {step.get('status')}")
    return OK


def cmd_ls(client: Client, args: argparse.Namespace) -> int:
    if args.what == "pipelines":
        page = client.get("pipelines/", project=args.project, page_size=args.limit)
        columns = PIPELINE_COLUMNS
    else:
        page = client.get("executions/", project=args.project, status=args.status, pipeline=args.pipeline_id)
        columns = EXECUTION_COLUMNS
    rows = page["results"][: args.limit]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, columns)
    return OK
