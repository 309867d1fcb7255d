"""Command line of pathops, the local golden-path runner."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from golden_path.demo import Demo
from pathops_contracts import __version__
from pathops_contracts.cli import at_boundary, env_option, tool_group

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-frontend"

main = tool_group(
    "pathops",
    __version__,
    "Run the PathOps golden path locally: alert, evidence, fix, merge request.",
)


@main.command("demo")
@at_boundary("pathops")
@env_option("--workdir", envvar="PATHOPS_DEMO_WORKDIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Keep everything here (artifacts, repositories, callbacks, summary.json); default: a temp dir.")
@env_option("--example", envvar="PATHOPS_DEMO_EXAMPLE", default=str(EXAMPLE), show_default=True,
            type=click.Path(exists=True, file_okay=False, path_type=Path), help="The sample application.")
def demo(workdir: Path | None, example: Path) -> None:
    """The golden path end to end: alert -> evidence -> fix -> merge request, with local stand-ins.

    Exit 0 only when every step succeeded and the patched app passes the check that failed.
    """
    keep = workdir is not None
    root = workdir or Path(tempfile.mkdtemp(prefix="pathops-demo-"))
    if keep and root.exists() and any(root.iterdir()):
        raise click.UsageError(f"--workdir {root} is not empty; give a new or empty directory")
    run = Demo(root, example, out=lambda line: click.echo(line, err=True))
    summary = run.run()
    (root / "summary.json").write_text(json.dumps(summary, indent=2))
    click.echo("\nStep                                                          seconds")
    for step in summary["steps"]:
        click.echo(f"  {step['name'][:60]:60} {step['seconds']:7.2f}")
    click.echo(f"\nsnapshot {summary['snapshot_id']}\npatch    {summary['patch_id']}\nbranch   {summary['branch']}\n"
               f"MR       {summary['mr_url']} ({summary['mr_status']})\ncheck    {summary['check']['detail']}\n")
    click.echo(summary["diff"])
    click.echo(f"everything is in {root} (summary.json)" if keep else
               f"artifacts were in {root}; pass --workdir DIR to keep them")
