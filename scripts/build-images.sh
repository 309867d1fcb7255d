#!/usr/bin/env bash
# Build the agent images with buildah (daemonless), OCI labels set from the build args; PUSH=1 pushes.
#   PYTHON_IMAGE  the base with python3 (e.g. python:3.12.8-slim-bookworm from a registry); when unset,
#                 a Debian base is made here from Debian packages (scripts/debian-base-image.sh, cached,
#                 needs root), for local builds and tests only: PUSH=1 requires PYTHON_IMAGE
#   BUILDAH_ROOT  a storage root of its own, as the tests and CI use; default: buildah's own
#   BUILDAH_STORAGE_DRIVER  with BUILDAH_ROOT: vfs (default, works everywhere) or overlay (faster)
#   IMAGES        which images of images/ to build on agent-runtime (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${PUSH:-0}" = 1 ] && [ -z "${PYTHON_IMAGE:-}" ]; then
  # A base debootstrapped on the build machine is whatever its mirror served that day: fine to test
  # with, not what a registry should serve. CI passes the pinned base (see the root Jenkinsfile).
  echo "build-images: PUSH=1 needs PYTHON_IMAGE, the pinned Python base from a registry" \
       "(e.g. PYTHON_IMAGE=python:3.12.8-slim-bookworm); without it the base is made here, for local use" >&2
  exit 2
fi
if [ "${PUSH:-0}" = 1 ] && [ -z "${REGISTRY:-}" ]; then
  # The default below names the demo's registry: a push goes only where it is told.
  echo "build-images: PUSH=1 needs REGISTRY, the registry path to push to (e.g. REGISTRY=harbor.example/pathops)" >&2
  exit 2
fi
registry=${REGISTRY:-harbor.demo.pathops.io/pathops}
version=${IMAGE_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}
revision=${IMAGE_REVISION:-$(git rev-parse HEAD)}
created=$(git show -s --format=%cI "$revision" 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
storage=()
[ -n "${BUILDAH_ROOT:-}" ] && storage=(--root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run"
                                      --storage-driver "${BUILDAH_STORAGE_DRIVER:-vfs}")
python_image=${PYTHON_IMAGE:-$(scripts/debian-base-image.sh)}
python=${PYTHON:-python3}

# The wheels the runtime installs, fetched here (this machine's index, mirror and certificates)
# for the base's Python and platform, so that the build itself needs no network.
container=$(buildah "${storage[@]}" from --pull-never "$python_image" 2>/dev/null || buildah "${storage[@]}" from "$python_image")
base_python=$(buildah "${storage[@]}" run --isolation chroot "$container" -- python3 -c \
  'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
buildah "${storage[@]}" rm "$container" >/dev/null
arch=$(uname -m)
platforms=()
for tag in manylinux1 manylinux_2_5 manylinux2014 manylinux_2_17 manylinux_2_28 linux; do
  platforms+=(--platform "${tag}_$arch")
done
echo "build-images: wheels for Python $base_python ($arch) in build/wheelhouse" >&2
rm -rf build/wheelhouse
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir build/wheelhouse .
"$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: --implementation cp \
  --python-version "$base_python" "${platforms[@]}" -c constraints.txt --dest build/wheelhouse \
  build/wheelhouse/pathops_golden_path-*.whl
images=${IMAGES:-evidence-collector fix-agent-runtime verification-agent jenkins-tools}
# kubectl for the fix agent's runtime (kustomize): KUBECTL_IMAGE, else this machine's kubectl packed
# into a local image (no registry needed), else the Dockerfile's default (registry.k8s.io).
kubectl_args=()
if [ -n "${KUBECTL_IMAGE:-}" ]; then
  kubectl_args=(--build-arg "KUBECTL_IMAGE=$KUBECTL_IMAGE")
elif kubectl_bin=$(command -v kubectl) && [[ " $images " == *" fix-agent-runtime "* ]]; then
  container=$(buildah "${storage[@]}" from scratch)
  buildah "${storage[@]}" copy "$container" "$(readlink -f "$kubectl_bin")" /bin/kubectl >/dev/null
  buildah "${storage[@]}" commit --quiet --rm "$container" localhost/pathops/kubectl:host >/dev/null
  kubectl_args=(--build-arg "KUBECTL_IMAGE=localhost/pathops/kubectl:host")
  echo "build-images: kubectl from $kubectl_bin" >&2
fi
args=(--isolation chroot --format docker --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
      --build-arg "CREATED=$created" --build-arg "PYTHON_IMAGE=$python_image")

echo "build-images: agent-runtime on $python_image" >&2
buildah "${storage[@]}" bud "${args[@]}" -f images/agent-runtime/Dockerfile -t "$registry/agent-runtime:$version" .
for image in $images; do
  echo "build-images: $image" >&2
  extra=()
  [ "$image" = fix-agent-runtime ] && extra=("${kubectl_args[@]}")
  buildah "${storage[@]}" bud "${args[@]}" "${extra[@]}" --build-arg "BASE_IMAGE=$registry/agent-runtime:$version" \
    -f "images/$image/Dockerfile" -t "$registry/$image:$version" "images/$image"
done
if [ "${PUSH:-0}" = 1 ]; then
  for image in agent-runtime $images; do
    buildah "${storage[@]}" push ${REGISTRY_USERNAME:+--creds "$REGISTRY_USERNAME:$REGISTRY_PASSWORD"} \
      "$registry/$image:$version"
  done
fi
