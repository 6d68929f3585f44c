# HECKTOR evaluation image (one image scores any phase). Build context: the repository root; `make build`.
#
#   docker build -f docker/evaluation.Dockerfile [--target invoke|exec] .
#
# Grand Challenge scores a submission with the evaluation method: the container reads /input/predictions.json
# and the job outputs beside it, the ground truth unpacked read-only at /opt/ml/input/data/ground_truth/, and
# writes /output/metrics.json. No torch, no MONAI. Targets, as for the algorithm image:
#   exec    runs once and exits (the HECKTOR 2025 evaluation methods): `python -m evaluation` with no argument;
#   invoke  (the default, last stage; Grand Challenge's 2026 starter kit) serves GET /health and POST /invoke on
#           port 4743 (`python -m evaluation serve`); each invoke scores the submission staged in /input.
# Either way, arguments replace the default command: `serve` = the API, any flags = one exec-mode run.
# BASE_IMAGE: Grand Challenge's template base; `make base-image` builds a Debian 12 stand-in (BASE=local).
# Python packages come from build/wheelhouse (`make wheelhouse`), mounted for the install step only.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim

FROM ${BASE_IMAGE} AS app
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

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

WORKDIR /opt/app
COPY docker/requirements-evaluation.txt /opt/app/requirements.txt
RUN --mount=type=bind,source=build/wheelhouse,target=/wheels \
    python3 -m venv /opt/venv \
    && python -m pip install --no-cache-dir --no-index --find-links /wheels --requirement /opt/app/requirements.txt

COPY hecktor /opt/app/hecktor
COPY evaluation /opt/app/evaluation
RUN python -m compileall -q /opt/app/hecktor /opt/app/evaluation

# The uid of the user created above (numeric, so any runtime resolves it).
USER 1000:1000
ARG BASE_IMAGE
LABEL org.hecktor.base-image="${BASE_IMAGE}"
# The commit the image was built from (`make build` passes it; the container tests refuse another one).
ARG SOURCE_COMMIT=unknown
ARG SOURCE_DIRTY=unknown
LABEL org.hecktor.source-commit="${SOURCE_COMMIT}" org.hecktor.source-dirty="${SOURCE_DIRTY}"
# A RUN that uses the commit: buildah (podman) keys its layer cache on a RUN's build-args but not on a LABEL's,
# so without it a multi-stage target of another commit was reused whole (old label, old layers).
RUN echo "source commit ${SOURCE_COMMIT} (uncommitted changes: ${SOURCE_DIRTY})"
ENTRYPOINT ["python", "-m", "evaluation"]

# One submission per container run: reads /input, writes /output/metrics.json, exits.
FROM app AS exec
CMD []

# Grand Challenge's invoke API (GET /health, POST /invoke on port 4743).
FROM app AS invoke
LABEL org.grand-challenge.api-method="invoke"
EXPOSE 4743
CMD ["serve"]
