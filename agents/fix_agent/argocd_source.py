"""How Argo CD renders the app: release name, namespace and values files, from the Application in the snapshot."""

from __future__ import annotations

from fix_agent.rendering import RenderContext
from fix_agent.snapshot import Snapshot


def render_context(snapshot: Snapshot) -> RenderContext:
    """Release name, namespace and values files as Argo CD renders the app (defaults: the app id, values.yaml)."""
    application = snapshot.json_file("objects/argocd-application.json") or {}
    source = application.get("source") if isinstance(application, dict) else None
    helm = (source or {}).get("helm") or {} if isinstance(source, dict) else {}
    release = str(helm.get("releaseName") or snapshot.manifest.get("app_id") or "release")
    files: dict[str, tuple[str, ...]] = {}
    if isinstance(source, dict) and source.get("path") and helm.get("valueFiles"):
        files[str(source["path"]).strip("/")] = tuple(str(f) for f in helm["valueFiles"])
    return RenderContext(release, str(snapshot.manifest.get("target_namespace") or ""), files)
