#!/usr/bin/env bash
# make images-test: build the agent runtime and the agents' images into a buildah storage of its own
# (vfs, removed at the end), then run them (tests/images): each as its non-root user, and the
# evidence collector against the stand-in Kubernetes API over loopback, into a moto S3 server.
# IMAGES="... jenkins-tools" adds the Jenkins tools image (a few more minutes: buildah from apt).
set -euo pipefail
cd "$(dirname "$0")/.."
storage=$(mktemp -d "${TMPDIR:-/tmp}/pathops-images.XXXXXX")
cleanup() {
  buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
  rm -rf "$storage"
}
trap cleanup EXIT
registry=${REGISTRY:-harbor.demo.pathops.io/pathops}
images=${IMAGES:-evidence-collector fix-agent-runtime verification-agent}
BUILDAH_ROOT=$storage REGISTRY=$registry IMAGES=$images scripts/build-images.sh
PATHOPS_IMAGES_BUILDAH_ROOT=$storage PATHOPS_IMAGES_REGISTRY=$registry PATHOPS_IMAGES=$images \
  "${PYTEST:-.venv/bin/pytest}" -m images tests/images
