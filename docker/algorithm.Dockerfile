# HECKTOR algorithm image (2025: Tasks 1-3; 2026: one unified task). Build context: the repository root; `make build` runs it.
#
#   docker build -f docker/algorithm.Dockerfile [--build-arg TASK=1|2|3|all] [--build-arg EDITION=2025|2026]
#       [--target invoke|exec] .
#
# BASE_IMAGE: Grand Challenge's own torch base (CUDA torch 2.13.0). Where no registry can be reached,
#   `make base-image` builds a Debian 12 base with python3 3.11 (BASE=local); the wheelhouse then
#   supplies torch's CPU build. Such an image runs on the CPU only: do not upload it.
# TASK: which phase's outputs the image writes (env HECKTOR_TASKS); one image per HECKTOR phase.
#   It is set after every heavy layer, so the per-task images share all of them.
# Targets: `invoke` (the default, last stage) serves Grand Challenge's invoke API on port 4743 and carries
#   the api-method label; `exec` runs one case and exits (the HECKTOR 2025 phases). Either way the first
#   argument picks the mode: no argument = the target's default, `run` = one case, `serve` = the API.
# Python packages come from build/wheelhouse (`make wheelhouse`), mounted for the install step only:
#   the build needs no network, and the wheels never become a layer.
ARG BASE_IMAGE=docker.io/pytorch/pytorch:2.13.0-cuda12.6-cudnn9-runtime

FROM ${BASE_IMAGE} AS app
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# The non-root user Grand Challenge requires, uid/gid 1000 (replacing a base's own uid-1000 user, e.g. 'ubuntu').
RUN if id -nu 1000 >/dev/null 2>&1; then userdel "$(id -nu 1000)"; fi \
    && if getent group 1000 >/dev/null; then groupdel "$(getent group 1000 | cut -d: -f1)"; fi \
    && groupadd --gid 1000 user \
    && useradd --uid 1000 --gid 1000 --create-home --no-log-init --shell /bin/bash user

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/opt/app \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache

# Dependencies first (slow, rarely changed). --system-site-packages: on the pytorch base its CUDA
# torch 2.13.0 already satisfies the pin, so the wheelhouse's CPU torch is not installed there.
WORKDIR /opt/app
# nnU-Net v2 goes in without its declared dependencies (requirements-nnunet.txt says why); the check fails the
# build if its inference or training path would import torchvision or timm.
COPY requirements.txt requirements-nnunet.txt /opt/app/
RUN --mount=type=bind,source=build/wheelhouse,target=/wheels \
    python3 -m venv --system-site-packages /opt/venv \
    && python -m pip install --no-cache-dir --no-index --find-links /wheels --requirement /opt/app/requirements.txt \
    && python -m pip install --no-cache-dir --no-index --find-links /wheels --no-deps \
        --requirement /opt/app/requirements-nnunet.txt \
    && python -c "import torch, monai, SimpleITK; print('torch', torch.__version__, 'monai', monai.__version__)" \
    && python -c "import sys, nnunetv2.inference.predict_from_raw_data, nnunetv2.run.run_training; \
bad = sorted({m.split('.')[0] for m in sys.modules} & {'torchvision', 'timm'}); assert not bad, bad; print('nnunetv2 ok')"

# Source and bundled weights (algorithm/resources/model), byte-compiled: / is read-only at run time.
COPY hecktor /opt/app/hecktor
COPY algorithm /opt/app/algorithm
RUN python -m compileall -q /opt/app/hecktor /opt/app/algorithm

# The uid of the user created above (numeric, so any runtime resolves it).
USER 1000:1000

# Late and tiny, so images for different phases differ only here.
ARG BASE_IMAGE
LABEL org.hecktor.base-image="${BASE_IMAGE}"
ARG TASK=all
RUN echo "$TASK" | grep -Eqx 'all|[123](,[123])*' \
    || { echo "error: TASK must be 1, 2, 3, a list like 1,3, or all; got '$TASK'" >&2; exit 1; }
ENV HECKTOR_TASKS=${TASK}
LABEL org.hecktor.tasks="${TASK}"
# EDITION: 2025 (the three tasks above) or 2026 (mask, T/N stage, RFS from one job; TASK unused), baked in as
#   HECKTOR_EDITION; `make build EDITION=2026` picks the exec target (the 2026 template has no invoke label).
ARG EDITION=2025
RUN echo "$EDITION" | grep -Eqx '2025|2026' \
    || { echo "error: EDITION must be 2025 or 2026; got '$EDITION'" >&2; exit 1; }
ENV HECKTOR_EDITION=${EDITION}
LABEL org.hecktor.edition="${EDITION}"
# The commit the image was built from (`make build` passes it; the container tests refuse another one).
ARG SOURCE_COMMIT=unknown
ARG SOURCE_DIRTY=unknown
LABEL org.hecktor.source-commit="${SOURCE_COMMIT}" org.hecktor.source-dirty="${SOURCE_DIRTY}"
# A RUN that uses the commit: buildah (podman) keys its layer cache on a RUN's build-args but not on a LABEL's,
# so without it a multi-stage target of another commit was reused whole (old label, old layers).
RUN echo "source commit ${SOURCE_COMMIT} (uncommitted changes: ${SOURCE_DIRTY})"
ENTRYPOINT ["python", "-m", "algorithm"]

# One case per container run: reads /input, writes /output, exits 0.
FROM app AS exec
CMD ["run"]

# Grand Challenge's invoke API (GET /health, POST /invoke on port 4743); models load once at start-up.
FROM app AS invoke
LABEL org.grand-challenge.api-method="invoke"
EXPOSE 4743
CMD ["serve"]
