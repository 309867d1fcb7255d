#!/usr/bin/env bash
# make images-test: build the agent runtime and the agents' images into a buildah storage of its own
# (removed at the end), then run them (tests/images): each as its non-root user, and the
# evidence collector against the stand-in Kubernetes API over loopback, into a moto S3 server.
# IMAGES="evidence-collector ..." picks some of them.
set -euo pipefail
cd "$(dirname "$0")/.."
storage=$(mktemp -d "${TMPDIR:-/tmp}/pathops-images.XXXXXX")
driver=${BUILDAH_STORAGE_DRIVER:-}
cleanup() {
  buildah --root "$storage/root" --runroot "$storage/run" --storage-driver "${driver:-overlay}" rm --all \
    >/dev/null 2>&1 || true
  umount "$storage/root/overlay" 2>/dev/null || true
  rm -rf "$storage"
}
trap cleanup EXIT
# overlay when this kernel and filesystem allow it (the whole run in 1-2 minutes here), else vfs
# (which copies every image in full: 8 minutes here).
if [ -z "$driver" ]; then
  probe=(buildah --root "$storage/root" --runroot "$storage/run" --storage-driver overlay)
  if container=$("${probe[@]}" from scratch 2>/dev/null) && "${probe[@]}" rm "$container" >/dev/null 2>&1; then
    driver=overlay
  else
    umount "$storage/root/overlay" 2>/dev/null || true
    rm -rf "${storage:?}"/*
    driver=vfs
  fi
fi
echo "images-test: buildah storage $storage ($driver)" >&2
registry=${REGISTRY:-harbor.demo.pathops.io/pathops}
images=${IMAGES:-evidence-collector fix-agent-runtime verification-agent jenkins-tools}
BUILDAH_ROOT=$storage BUILDAH_STORAGE_DRIVER=$driver REGISTRY=$registry IMAGES=$images scripts/build-images.sh
PATHOPS_IMAGES_BUILDAH_ROOT=$storage PATHOPS_IMAGES_STORAGE_DRIVER=$driver PATHOPS_IMAGES_REGISTRY=$registry \
  PATHOPS_IMAGES=$images \
  "${PYTEST:-.venv/bin/pytest}" -m images tests/images
