"""Ansible events (as ansible-runner hands them over) turned into log lines and a play recap."""

from __future__ import annotations

import json
import re
from typing import Any

from ..choices import LogStream

RECAP_FIELDS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
# ansible's stats keys -> the names shown in the recap and published as outputs
RECAP_NAMES = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
               "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}  # fmt: skip
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RESULT_TEXT = ("msg", "stdout", "stderr")

Line = tuple[str, str]


def plain(text: str) -> str:
    return _ANSI.sub("", text)


def _host_label(data: dict[str, Any]) -> str:
    host = data.get("host") or "?"
    delegated = (data.get("res") or {}).get("_ansible_delegated_vars") or {}
    target = delegated.get("ansible_host") if isinstance(delegated, dict) else None
    return f"[{host} -> {target}]" if target else f"[{host}]"


def _item(res: dict[str, Any]) -> str:
    if "item" not in res:
        return ""
    item = res["item"]
    label = res.get("_ansible_item_label", item)
    return f" => (item={label if isinstance(label, str) else json.dumps(label, default=str)})"


def _result_lines(res: dict[str, Any], stream: str = LogStream.STDOUT) -> list[Line]:
    lines: list[Line] = []
    for key in _RESULT_TEXT:
        value = res.get(key)
        if value in (None, "", []):
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        target = LogStream.STDERR if key == "stderr" else stream
        lines += [(target, f"    {key}: {line}") for line in text.splitlines() or [""]]
    if "rc" in res and res.get("rc") not in (0, None):
        lines.append((stream, f"    rc: {res['rc']}"))
    diff = res.get("diff")
    for entry in diff if isinstance(diff, list) else [diff] if isinstance(diff, dict) else []:
        if isinstance(entry, dict) and entry.get("prepared"):
            lines += [(LogStream.STDOUT, f"    {line}") for line in str(entry["prepared"]).splitlines()]
        elif isinstance(entry, dict) and ("before" in entry or "after" in entry):
            lines.append((LogStream.STDOUT, f"    diff: {entry.get('before')!r} -> {entry.get('after')!r}"))
    return lines


def event_lines(event: dict[str, Any]) -> list[Line]:
    """The log lines of one ansible-runner event: task starts, per-host results, warnings and the recap."""
    name = event.get("event", "")
    data: dict[str, Any] = event.get("event_data") or {}
    res: dict[str, Any] = data.get("res") if isinstance(data.get("res"), dict) else {}  # type: ignore[assignment]
    out = LogStream.STDOUT
    if name == "playbook_on_play_start":
        return [(out, f"PLAY [{data.get('name') or data.get('play') or ''}]")]
    if name == "playbook_on_task_start":
        return [(out, f"TASK [{data.get('name') or data.get('task') or ''}]")]
    if name == "playbook_on_handler_task_start":
        return [(out, f"RUNNING HANDLER [{data.get('name') or data.get('task') or ''}]")]
    if name in ("runner_on_ok", "runner_item_on_ok"):
        state = "changed" if res.get("changed") else "ok"
        return [(out, f"{state}: {_host_label(data)}{_item(res)}"), *_result_lines(res)]
    if name in ("runner_on_failed", "runner_item_on_failed"):
        ignored = " (ignored)" if data.get("ignore_errors") else ""
        return [(LogStream.STDERR, f"failed: {_host_label(data)}{_item(res)}{ignored}"), *_result_lines(res)]
    if name in ("runner_on_skipped", "runner_item_on_skipped"):
        return [(out, f"skipping: {_host_label(data)}{_item(res)}")]
    if name == "runner_on_unreachable":
        return [(LogStream.STDERR, f"unreachable: {_host_label(data)}"), *_result_lines(res, LogStream.STDERR)]
    if name == "playbook_on_stats":
        return [(out, "PLAY RECAP"), *[(out, line) for line in recap_lines(recap(data))]]
    if name in ("warning", "deprecated", "error", "verbose", "debug", "playbook_on_no_hosts_matched"):
        stream = LogStream.STDERR if name in ("warning", "error") else out
        return [(stream, line) for line in plain(event.get("stdout") or "").splitlines() if line.strip()]
    return []


def recap(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``{host: {ok, changed, failed, unreachable, skipped, rescued, ignored}}`` from a stats event."""
    hosts: set[str] = set()
    for field in RECAP_FIELDS:
        hosts |= set((stats.get(field) or {}).keys())
    return {
        host: {RECAP_NAMES[field]: int((stats.get(field) or {}).get(host, 0)) for field in RECAP_FIELDS}
        for host in sorted(hosts)
    }


def recap_lines(table: dict[str, dict[str, int]]) -> list[str]:
    width = max((len(host) for host in table), default=0)
    return [
        f"{host.ljust(width)} : " + "  ".join(f"{k}={v}" for k, v in counts.items()) for host, counts in table.items()
    ]


def recap_outputs(table: dict[str, dict[str, int]]) -> dict[str, str]:
    """The step outputs: totals over hosts per field, and the whole table as JSON (``recap``)."""
    outputs = {name: str(sum(counts[name] for counts in table.values())) for name in RECAP_NAMES.values()}
    outputs["recap"] = json.dumps(table, sort_keys=True)
    return outputs
