#!/usr/bin/env bash
# Install the Debian packages the tests use, only when missing (CI runs as root on a fresh machine).
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [git]=git
  [groovy]=groovy
  [npm]=npm
  [buildah]=buildah
  [runc]=runc
  [skopeo]=skopeo
  [docker-registry]=docker-registry
  [busybox]=busybox-static
  [debootstrap]=debootstrap
  [prometheus]=prometheus
)

missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run as root or install them: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
