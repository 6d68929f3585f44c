#!/usr/bin/env bash
# Build a local Debian 12 (bookworm) base image for machines that cannot pull from a registry.
#
#   docker/build_base.sh [IMAGE]          (default localhost/hecktor-base:bookworm)
#
# Debian 12's python3 is 3.11, the Python of the wheels in build/wheelhouse, so both Dockerfiles
# build on it with `--build-arg BASE_IMAGE=localhost/hecktor-base:bookworm`. Needs root, debootstrap
# and Debian's package archive (DEBIAN_MIRROR overrides debootstrap's default mirror).
# ENGINE (default podman) is the engine command, global flags included.
set -euo pipefail

IMAGE=${1:-localhost/hecktor-base:bookworm}
ENGINE=${ENGINE:-podman}
ROOTFS=${ROOTFS:-build/base-rootfs}
MIRROR=${DEBIAN_MIRROR:-}

command -v debootstrap >/dev/null || {
    echo "error: debootstrap is not installed (apt-get install -y --no-install-recommends debootstrap)" >&2
    exit 1
}
rm -rf "$ROOTFS"
mkdir -p "$(dirname "$ROOTFS")"
echo "debootstrap bookworm minbase into $ROOTFS ..."
# shellcheck disable=SC2086  # MIRROR is empty or one word
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$ROOTFS" $MIRROR >"$ROOTFS.log" 2>&1 || {
    tail -20 "$ROOTFS.log" >&2
    echo "error: debootstrap failed (full log: $ROOTFS.log)" >&2
    exit 1
}
# What an image never needs: package lists, downloaded .debs, documentation, locales but C.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +

echo "importing $ROOTFS as $IMAGE ..."
tar -C "$ROOTFS" -c . | $ENGINE import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE" >/dev/null
rm -rf "$ROOTFS" "$ROOTFS.log"
echo "built $IMAGE"
