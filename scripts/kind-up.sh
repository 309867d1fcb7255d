#!/usr/bin/env bash
# Deploy the demo's broken release of shop-frontend to a kind cluster, for users with Docker:
#   make kind-up && make demo DEMO_ARGS="--kube-context kind-pathops"
# The demo's commits are reproducible, so the commit deployed here is the one the demo expects.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=${KIND_CLUSTER:-pathops}
context="kind-$cluster"
namespace=shop-frontend-preflight
image=shop-frontend:demo
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-up: $tool is needed (Docker, kind, kubectl)" >&2; exit 1; }
done
kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
docker build -t "$image" examples/shop-frontend
kind load docker-image "$image" --name "$cluster"
kubectl --context "$context" create namespace "$namespace" --dry-run=client -o yaml | kubectl --context "$context" apply -f -
"${PATHOPS:-.venv/bin/pathops}" kind-manifests --image "$image" --namespace "$namespace" | kubectl --context "$context" apply -f -
echo "kind-up: the release is broken on purpose: its readiness probe asks /healthz, which the app does not serve."
kubectl --context "$context" -n "$namespace" rollout status deployment/shop-frontend --timeout=45s || true
kubectl --context "$context" -n "$namespace" get pods
