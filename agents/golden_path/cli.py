"""Command line of pathops, the local golden-path demo: `demo` and `kind-manifests`, nothing run in production."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

from pathops_contracts import __version__
from pathops_contracts.errors import InvalidInput, NegativeOutcome, PathOpsError
from pathops_runtime.cli import at_boundary, env_option, tool_group

# Package data (a link to the repository's examples/ in a checkout, a copy in a wheel).
EXAMPLE = Path(__file__).resolve().parent / "examples" / "shop-frontend"
# What the stand-ins import beyond the agents' own dependencies: the `demo` extra.
DEMO_MODULES = ("werkzeug", "flask", "flask_cors", "moto")

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
@env_option("--kube-context", envvar="PATHOPS_DEMO_KUBE_CONTEXT", default=None,
            help="Collect evidence from this kubeconfig context (a kind cluster set up by `make kind-up`) "
                 "instead of the simulated cluster.")
@env_option("--gitlab-url", envvar="PATHOPS_DEMO_GITLAB_URL", default=None,
            help="A real GitLab for the merge request (needs --gitlab-project and GITLAB_TOKEN).")
@env_option("--gitlab-project", envvar="PATHOPS_DEMO_GITLAB_PROJECT", default=None,
            help="An empty project of that GitLab; the demo pushes the sample application to it.")
@env_option("--preflight", envvar="PATHOPS_DEMO_PREFLIGHT", type=click.Choice(["patched", "unpatched"]),
            default="patched", show_default=True,
            help="What Argo CD deploys to preflight for verification: the MR's head, or the unfixed release "
                 "(verification fails, the MR stays Draft, exit 3).")
def demo(workdir: Path | None, example: Path, kube_context: str | None, gitlab_url: str | None,
         gitlab_project: str | None, preflight: str) -> None:
    """The golden path end to end: alert -> evidence -> fix -> merge request, with local stand-ins.

    Exit 0 only when every step succeeded and the patched app passes the check that failed.
    """
    missing = [name for name in DEMO_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise InvalidInput(f"the demo's stand-ins need the demo extra ({', '.join(missing)} missing): "
                           "pip install 'pathops-golden-path[demo]'")
    from golden_path.demo import Demo  # the stand-ins are only needed here, not in the Jenkins tools image
    from golden_path.sample_app import HEALTHY_PROBE

    deployment = example / "deploy" / "deployment.yaml"
    if not deployment.is_file() or HEALTHY_PROBE not in deployment.read_text(encoding="utf-8", errors="replace"):
        raise InvalidInput(f"--example {example} is not a sample application the demo can break: it needs "
                           f"deploy/deployment.yaml with a readiness probe on '{HEALTHY_PROBE.strip()}'")
    keep = workdir is not None
    if workdir is not None and workdir.exists() and any(workdir.iterdir()):
        raise click.UsageError(f"--workdir {workdir} is not empty; give a new or empty directory")
    if gitlab_url and not (gitlab_project and os.environ.get("GITLAB_TOKEN")):
        raise click.UsageError("--gitlab-url needs --gitlab-project and GITLAB_TOKEN")
    root = workdir or Path(tempfile.mkdtemp(prefix="pathops-demo-"))
    try:
        run = Demo(root, example, out=lambda line: click.echo(line, err=True), kube_context=kube_context,
                   gitlab_url=gitlab_url, gitlab_project=gitlab_project, preflight=preflight)
        summary = run.run()
        (root / "summary.json").write_text(json.dumps(summary, indent=2))
    except PathOpsError as error:
        if keep:
            raise
        # The step's log that the message names goes with the temp dir: say so, and how to keep it.
        raise type(error)(f"{error}; the temp dir {root} is removed with its logs: "
                          "rerun with --workdir DIR to keep them") from error
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    click.echo("\nStep                                                          seconds")
    for step in summary["steps"]:
        click.echo(f"  {step['name'][:60]:60} {step['seconds']:7.2f}")
    click.echo(f"\nsnapshot {summary['snapshot_id']}\npatch    {summary['patch_id']}\nbranch   {summary['branch']}\n"
               f"MR       {summary['mr_url']} ({summary['mr_status']})\ncheck    {summary['check']['detail']}\n")
    click.echo(summary["diff"])
    click.echo(f"everything is in {root} (summary.json)" if keep else
               "the artifacts were removed; pass --workdir DIR to keep them")
    if summary.get("verification_status", "passed") != "passed":
        raise NegativeOutcome(f"preflight verification {summary['verification_status']}: the merge request stays "
                              f"Draft (report {summary['report_id']})")


@main.command("kind-manifests")
@at_boundary("pathops")
@env_option("--image", envvar="PATHOPS_DEMO_IMAGE", default="shop-frontend:demo", show_default=True,
            help="The image `make kind-up` built and loaded into kind.")
@env_option("--namespace", envvar="PATHOPS_DEMO_NAMESPACE", default="shop-frontend-preflight", show_default=True,
            help="Where the broken release goes.")
@env_option("--example", envvar="PATHOPS_DEMO_EXAMPLE", default=str(EXAMPLE), show_default=True,
            type=click.Path(exists=True, file_okay=False, path_type=Path), help="The sample application.")
def kind_manifests(image: str, namespace: str, example: Path) -> None:
    """Print the broken release's manifests (YAML) for `make kind-up` to apply."""
    from ruamel.yaml import YAML

    from golden_path.sample_app import broken_release_manifests

    with tempfile.TemporaryDirectory() as scratch:
        _, documents = broken_release_manifests(example, Path(scratch), image, namespace)
    yaml = YAML()
    yaml.explicit_start = True
    yaml.dump_all(documents, sys.stdout)
