#!/usr/bin/env bash
# Make the agents' base image from Debian packages when no python image can be pulled:
# debootstrap (minbase + python3, python3-venv, ca-certificates, git) into a cached tarball,
# then `buildah commit` of it. Prints the image name on stdout; progress goes to stderr.
#   BASE_CACHE_DIR  where the root filesystem tarball is kept (default ~/.cache/pathops/debian-base)
#   DEBIAN_SUITE    (bookworm)   DEBIAN_MIRROR (the first deb.debian.org-style URI of apt's sources)
#   BUILDAH_ROOT    a storage root of its own for buildah, as in the tests (BUILDAH_STORAGE_DRIVER: vfs)
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${DEBIAN_SUITE:-bookworm}
cache=${BASE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pathops/debian-base}
image=localhost/pathops-debian-base:$suite
tarball=$cache/$suite-minbase.tar
storage=()
[ -n "${BUILDAH_ROOT:-}" ] && storage=(--root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run"
                                      --storage-driver "${BUILDAH_STORAGE_DRIVER:-vfs}")

if buildah "${storage[@]}" inspect --type image "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "debian-base-image: debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
  mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$cache"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$tarball.partial"' EXIT
  echo "debian-base-image: debootstrap $suite from $mirror (once; cached in $tarball, 1-3 min)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,git "$suite" "$rootfs" "$mirror" \
    | sed -u 's/^/  /' >&2
  # What an image does not need: downloaded packages, indexes, docs, translations.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
         "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/man/*
  tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
fi

echo "debian-base-image: committing $image from $tarball" >&2
container=$(buildah "${storage[@]}" from scratch)
trap 'buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true' EXIT
mountpoint=$(buildah "${storage[@]}" mount "$container")
tar --numeric-owner -C "$mountpoint" -xf "$tarball"
buildah "${storage[@]}" umount "$container" >/dev/null
buildah "${storage[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd /bin/bash \
  --label "org.opencontainers.image.title=pathops-debian-base" \
  --label "org.opencontainers.image.description=debootstrap --variant=minbase $suite with python3, python3-venv, git" \
  "$container"
buildah "${storage[@]}" commit --quiet "$container" "$image" >/dev/null
echo "$image"
