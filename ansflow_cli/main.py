"""The ``ansflow`` command line: argument parsing and the exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import commands, config
from .client import Client, CliError

EPILOG = """exit codes: 0 done (a followed run succeeded), 1 the run failed or was canceled, 2 invalid file,
input or usage, 3 server unreachable, 4 not authenticated or not allowed, 5 not found.
The server and token come from --url/--token, ANSFLOW_URL/ANSFLOW_TOKEN, or the file `ansflow login` writes."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ansflow", description="AnsFlow command-line client.", epilog=EPILOG)
    parser.add_argument("--url", help=f"server URL (default: ANSFLOW_URL, the config file, {config.DEFAULT_URL})")
    parser.add_argument("--token", help="API token (default: ANSFLOW_TOKEN, then the config file)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("login", help="check a token and save it with the URL in the config file")
    for name, text in (("validate", "validate a pipeline file on the server"), ("import", "import a pipeline file")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("file", metavar="FILE", help="YAML file (- for standard input)")
        cmd.add_argument("--project", help="project slug (default: metadata.project)")

    run = sub.add_parser("run", help="run a pipeline")
    run.add_argument("pipeline", metavar="PIPELINE", help="pipeline id, PROJECT/NAME or NAME")
    run.add_argument("--project", help="project slug, when NAME is not unique")
    run.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE", help="a run input")
    run.add_argument("--follow", "-f", action="store_true", help="stream the log; exit code from the run")

    logs = sub.add_parser("logs", help="print an execution's log")
    logs.add_argument("execution", metavar="EXECUTION", type=int)
    logs.add_argument("--follow", "-f", action="store_true", help="keep streaming until the run ends")
    logs.add_argument("--after", type=int, default=0, metavar="N", help="only lines after sequence number N")

    cancel = sub.add_parser("cancel", help="cancel an execution")
    cancel.add_argument("execution", metavar="EXECUTION", type=int)

    retry = sub.add_parser("retry", help="run an execution again (a new execution)")
    retry.add_argument("execution", metavar="EXECUTION", type=int)
    retry.add_argument("--failed-only", action="store_true", help="keep the successful steps, run the others")
    retry.add_argument("--follow", "-f", action="store_true", help="stream the new execution's log")

    approve = sub.add_parser("approve", help="approve (or reject) a waiting approval step")
    approve.add_argument("step", metavar="STEP", type=int, help="step id (see the execution)")
    approve.add_argument("--comment", "-m", default="")
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")

    ls = sub.add_parser("ls", help="list pipelines or executions")
    ls.add_argument("what", choices=["pipelines", "executions"])
    ls.add_argument("--project", help="only this project")
    ls.add_argument("--status", help="executions with this status")
    ls.add_argument("--pipeline-id", type=int, help="executions of this pipeline")
    ls.add_argument("--limit", type=int, default=50)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(commands, f"cmd_{args.command}")
    try:
        client = Client(config.load(args.url, args.token))
        return int(handler(client, args))
    except CliError as exc:
        print(f"ansflow: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("ansflow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
