#!/usr/bin/env bash
# Print the `--build-arg BASE_IMAGE=...` to build DOCKERFILE with (nothing: the Dockerfile's own default).
#
#   BASE=public|local|auto ENGINE="podman --runtime runc" docker/resolve_base.sh DOCKERFILE
#
# public: the Dockerfile's default base (ARG BASE_IMAGE=..., pulled from its registry).
# local:  LOCAL_BASE_IMAGE (default localhost/hecktor-base:bookworm), built by docker/build_base.sh if absent.
# auto:   public when that base is present or can be pulled, else local, with a warning: a local-base
#         algorithm image has CPU-only torch and must not be uploaded.
set -euo pipefail

dockerfile=$1
BASE=${BASE:-auto}
ENGINE=${ENGINE:?ENGINE is not set}
LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-localhost/hecktor-base:bookworm}

public=$(sed -n 's/^ARG BASE_IMAGE=//p' "$dockerfile" | head -1)
[[ -n $public ]] || { echo "error: $dockerfile declares no ARG BASE_IMAGE=<default>" >&2; exit 1; }

if [[ $BASE == auto ]]; then
    if $ENGINE image inspect "$public" >/dev/null 2>&1 || $ENGINE pull "$public" >&2; then
        BASE=public
    else
        echo "warning: cannot pull $public; building on the local Debian base instead (BASE=local)." >&2
        if [[ $dockerfile == *algorithm* ]]; then
            echo "warning: that algorithm image has CPU-only torch: do not upload it (make build BASE=public)." >&2
        fi
        BASE=local
    fi
fi
case $BASE in
    public) ;;
    local)
        if ! $ENGINE image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; then
            ENGINE="$ENGINE" "$(dirname "$0")/build_base.sh" "$LOCAL_BASE_IMAGE" >&2
        fi
        echo "--build-arg BASE_IMAGE=$LOCAL_BASE_IMAGE"
        ;;
    *)
        echo "error: BASE must be public, local or auto, not '$BASE'" >&2
        exit 1
        ;;
esac
