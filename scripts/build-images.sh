#!/usr/bin/env bash
# Build the agent images with buildah (daemonless), OCI labels set from the build args; PUSH=1 pushes.
set -euo pipefail
cd "$(dirname "$0")/.."
registry=${REGISTRY:-harbor.demo.pathops.io/pathops}
version=${IMAGE_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}
revision=${IMAGE_REVISION:-$(git rev-parse HEAD)}
created=$(git show -s --format=%cI "$revision" 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created")

buildah bud --layers "${args[@]}" -f images/agent-runtime/Dockerfile -t "$registry/agent-runtime:$version" .
for image in evidence-collector fix-agent-runtime verification-agent jenkins-tools; do
  buildah bud --layers "${args[@]}" --build-arg "BASE_IMAGE=$registry/agent-runtime:$version" \
    -f "images/$image/Dockerfile" -t "$registry/$image:$version" images/$image
done
if [ "${PUSH:-0}" = 1 ]; then
  for image in agent-runtime evidence-collector fix-agent-runtime verification-agent jenkins-tools; do
    buildah push ${REGISTRY_USERNAME:+--creds "$REGISTRY_USERNAME:$REGISTRY_PASSWORD"} "$registry/$image:$version"
  done
fi
