# HECKTOR container kit. `make demo` sets up and runs the whole job on the bundled examples;
# `make test` sets up and runs the test suite; `make build` builds both container images. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output

.PHONY: setup test test-fast lint format demo clean help \
	build build-algorithm build-evaluation build-phases base-image wheelhouse check-engine \
	test-containers save save-evaluation save-phases save-model clean-containers

help:
	@echo "make setup            create $(VENV) and install pinned dependencies"
	@echo "make demo             run the algorithm on ground_truth_examples, score it, print the metrics"
	@echo "                      (EDITION=2026: on ground_truth_examples_2026, scored as a 2026 phase)"
	@echo "make test             lint and run the test suite (container tests too, once images are built)"
	@echo "make test-fast        lint and the tests but the container and slow (training) ones: the edit-test loop"
	@echo "make build            build the algorithm and evaluation images ($(ALGORITHM_IMAGE), $(EVALUATION_IMAGE))"
	@echo "                      TASK=1|2|3|all (one image per phase), MODE=invoke|exec, BASE=auto|public|local"
	@echo "                      EDITION=2025|2026 (2026: $(ALGORITHM_REPO):2026, exec mode by default)"
	@echo "make build-phases     build $(ALGORITHM_REPO):task1, :task2, :task3 (they share every heavy layer)"
	@echo "make test-containers  run the images as Grand Challenge does (no network, read-only, non-root)"
	@echo "make save             write build/<algorithm image>.tar.gz for upload (save-phases: one per phase;"
	@echo "                      save-evaluation: the evaluation image; save-model: build/model.tar.gz)"
	@echo "make wheelhouse       download the pinned wheels to $(WHEELHOUSE) (the image builds are offline)"
	@echo "make base-image       build $(LOCAL_BASE_IMAGE) with debootstrap (BASE=local, no registry needed)"
	@echo "make bench            benchmarks on CPU (evaluation; algorithm per stage and peak RAM), writes bench/RESULTS.md"
	@echo "make bench-gpu        the algorithm on CUDA (fp32/AMP, TTA, GPU memory), writes bench/RESULTS-gpu.md"
	@echo "engine: $(or $(ENGINE_CMD),none found)"

$(STAMP): requirements.txt requirements-nnunet.txt requirements-dev.txt requirements-reference.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# (issue 15) nnU-Net v2 without its declared dependencies (timm -> a torchvision that fails under CPU torch)
	$(PY) -m pip install --quiet --no-deps -r requirements-nnunet.txt
	@# (issue 17) test-only reference implementations (pycox for DeepHit / MTLR), without their declared extras
	$(PY) -m pip install --quiet --no-deps -r requirements-reference.txt
	@# (issue 19) the project itself, editable: console scripts hecktor-algorithm, hecktor-evaluation and
	@# hecktor-synthetic, and `python -m ...` from any folder (PYTHONWARNINGS: setuptools' editable-mode banner)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint docker/*.Dockerfile

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The container tests (test/containers) run when the images exist and skip with a reason otherwise.
test: lint
	$(PY) -m pytest -q

# ---- (issue 19) the edit-test loop: everything but the container tests and the tests marked slow (the
# training runs); CI keeps running the full `make test`.
test-fast: lint
	$(PY) -m pytest -q -m "not container and not slow" --ignore=test/containers

# EDITION=2026: the HECKTOR 2026 examples (ground_truth_examples_2026), scored as one 2026 phase.
demo: $(STAMP)
	$(PY) -m algorithm demo --edition $(EDITION) --out $(DEMO_OUT) \
		--examples ground_truth_examples$(if $(filter 2026,$(EDITION)),_2026)

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .ruff_cache

# ---- Containers ------------------------------------------------------------------------------------
# ENGINE: docker when a Docker daemon answers, else podman. For podman we add `--runtime runc` when runc
# is installed and CONTAINERS_CONF=docker/containers.conf (default_ulimits = []): on hosts where crun
# cannot set rlimits or rejects a hybrid cgroup layout these two make podman work. Override either:
# `make build ENGINE=docker`, `make build PODMAN_RUNTIME=` (podman's default runtime).
ifeq ($(origin ENGINE),undefined)
ENGINE := $(shell if timeout 20 docker info >/dev/null 2>&1; then echo docker; \
	elif command -v podman >/dev/null 2>&1; then echo podman; fi)
endif
ifeq ($(ENGINE),podman)
PODMAN_RUNTIME ?= $(if $(shell command -v runc 2>/dev/null),runc)
ENGINE_CMD := podman$(if $(PODMAN_RUNTIME), --runtime $(PODMAN_RUNTIME))
export CONTAINERS_CONF ?= $(CURDIR)/docker/containers.conf
else
ENGINE_CMD := $(ENGINE)
export DOCKER_BUILDKIT := 1
endif

# BASE=public: the Dockerfiles' own bases (pytorch/pytorch:2.13.0-cuda12.6-cudnn9-runtime, python:3.11-slim),
# pulled from Docker Hub: what you upload. BASE=local: a Debian 12 base built here by debootstrap
# (docker/build_base.sh), for machines that reach no container registry (CI); its algorithm image has CPU-only
# torch: never upload it. BASE=auto (default): public when it can be pulled, else local, with a warning.
BASE ?= auto
LOCAL_BASE_IMAGE ?= localhost/hecktor-base:bookworm
ifeq ($(filter $(BASE),public local auto),)
$(error BASE must be public, local or auto, not '$(BASE)')
endif
BASE_ARG = $$(BASE=$(BASE) ENGINE="$(ENGINE_CMD)" LOCAL_BASE_IMAGE=$(LOCAL_BASE_IMAGE) docker/resolve_base.sh $(1))
BUILD_HINT := $(if $(filter public,$(BASE)),|| { echo "hint: no registry here? build with BASE=local" >&2; exit 1; })

# TASK selects the phase whose outputs the algorithm image writes; MODE its default (invoke or exec).
# EDITION=2026 builds the HECKTOR 2026 image (one job: mask, T/N stage, RFS; HECKTOR_EDITION baked in), exec by
# default (the organisers' 2026 template has no invoke label), tagged <repo>:2026 (MODE=invoke: :2026-invoke).
TASK ?= all
EDITION ?= 2025
ifeq ($(filter $(EDITION),2025 2026),)
$(error EDITION must be 2025 or 2026, not '$(EDITION)')
endif
MODE ?= $(if $(filter 2026,$(EDITION)),exec,invoke)
comma := ,
ALGORITHM_REPO ?= hecktor-algorithm
MODE_SUFFIX := $(if $(filter exec,$(MODE)),-exec)
ifeq ($(EDITION),2026)
ALGORITHM_TAG ?= 2026$(if $(filter invoke,$(MODE)),-invoke)
endif
ALGORITHM_TAG ?= $(if $(filter all,$(TASK)),latest,task$(subst $(comma),-,$(TASK)))$(MODE_SUFFIX)
ALGORITHM_IMAGE ?= $(ALGORITHM_REPO):$(ALGORITHM_TAG)
EVALUATION_REPO ?= hecktor-evaluation
EVALUATION_IMAGE ?= $(EVALUATION_REPO):latest$(MODE_SUFFIX)
# The exec-mode evaluation image the container tests use besides $(EVALUATION_IMAGE) (built by .ci/run).
EVALUATION_EXEC_IMAGE ?= $(EVALUATION_REPO):latest-exec
# Offline builds (the wheelhouse is mounted), amd64 only (Grand Challenge's machines); podman builds Docker's
# image format, whose SHELL instruction the OCI format lacks.
BUILD_FLAGS ?= --network none --platform linux/amd64 $(if $(filter podman,$(ENGINE)),--format docker)
# (issue 19) the source commit, as image labels; the container tests refuse an image of another commit.
# The labels are also passed on the command line: podman's layer cache can reuse a LABEL layer built with another
# commit's build-arg, while a --label always lands on the final image.
SOURCE_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DIRTY ?= $(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)
BUILD_FLAGS += --build-arg SOURCE_COMMIT=$(SOURCE_COMMIT) --build-arg SOURCE_DIRTY=$(SOURCE_DIRTY) \
	--label org.hecktor.source-commit=$(SOURCE_COMMIT) --label org.hecktor.source-dirty=$(SOURCE_DIRTY)
# The layer cache stays on (the per-phase images share every heavy layer through it): the Dockerfiles end with a
# RUN that uses SOURCE_COMMIT, which buildah keys its cache on, so a cached target of another commit is never reused.

# What the container tests use (they also run from a plain `pytest` when these are set).
export HECKTOR_ENGINE := $(ENGINE_CMD)
export HECKTOR_ALGORITHM_IMAGE := $(ALGORITHM_REPO):latest
export HECKTOR_ALGORITHM_2026_IMAGE := $(ALGORITHM_REPO):2026
export HECKTOR_EVALUATION_IMAGE := $(EVALUATION_IMAGE)
export HECKTOR_EVALUATION_EXEC_IMAGE := $(EVALUATION_EXEC_IMAGE)

# Wheels for Python 3.11 on x86-64 Linux (the bases' Python), whatever the host runs. On a host with
# plain PyPI, pass an index that has torch's CPU wheel, e.g. PIP_DOWNLOAD_ARGS="--extra-index-url URL",
# or pip takes the multi-GB CUDA build (the pytorch base never installs it: its own torch satisfies the pin).
WHEELHOUSE := build/wheelhouse
WHEEL_PYTHON ?= 3.11
WHEEL_PLATFORMS ?= manylinux2014_x86_64 manylinux_2_17_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 \
	manylinux_2_28_x86_64
PIP_DOWNLOAD_ARGS ?=

check-engine:
	@test -n "$(ENGINE_CMD)" || { echo "error: no container engine found: install docker (with a running daemon) or" \
		"podman, e.g. apt-get install -y --no-install-recommends podman runc debootstrap" >&2; exit 1; }

$(WHEELHOUSE)/.complete: requirements.txt requirements-nnunet.txt docker/requirements-evaluation.txt
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(PYTHON) -m pip download --quiet --dest $(WHEELHOUSE) --only-binary=:all: --implementation cp \
		--python-version $(WHEEL_PYTHON) $(addprefix --platform ,$(WHEEL_PLATFORMS)) $(PIP_DOWNLOAD_ARGS) \
		--requirement requirements.txt --requirement docker/requirements-evaluation.txt \
		2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	@# (issue 15) nnU-Net's pure-Python packages, without dependencies; pip wheel builds acvl-utils (an sdist only)
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) $(PIP_DOWNLOAD_ARGS) -r requirements-nnunet.txt
	touch $@
	@du -sh $(WHEELHOUSE)

wheelhouse: $(WHEELHOUSE)/.complete

# Built once and kept (delete it with `$(ENGINE) rmi $(LOCAL_BASE_IMAGE)` to rebuild).
base-image: check-engine
	@$(ENGINE_CMD) image inspect $(LOCAL_BASE_IMAGE) >/dev/null 2>&1 \
		&& echo "$(LOCAL_BASE_IMAGE) is present" \
		|| ENGINE="$(ENGINE_CMD)" docker/build_base.sh $(LOCAL_BASE_IMAGE)

# The engine's layer cache makes a rebuild after a source-only change take seconds.
build-algorithm: check-engine wheelhouse
	@echo "building $(ALGORITHM_IMAGE): EDITION=$(EDITION) TASK=$(TASK) MODE=$(MODE) BASE=$(BASE)"
	base_arg=$(call BASE_ARG,docker/algorithm.Dockerfile) && \
	$(ENGINE_CMD) build $(BUILD_FLAGS) $$base_arg --build-arg TASK=$(TASK) --build-arg EDITION=$(EDITION) \
		--target $(MODE) \
		--file docker/algorithm.Dockerfile --tag $(ALGORITHM_IMAGE) . $(BUILD_HINT)

build-evaluation: check-engine wheelhouse
	@echo "building $(EVALUATION_IMAGE): MODE=$(MODE) BASE=$(BASE)"
	base_arg=$(call BASE_ARG,docker/evaluation.Dockerfile) && \
	$(ENGINE_CMD) build $(BUILD_FLAGS) $$base_arg --target $(MODE) --file docker/evaluation.Dockerfile \
		--tag $(EVALUATION_IMAGE) . $(BUILD_HINT)

build: build-algorithm build-evaluation

build-phases: check-engine wheelhouse
	@for task in 1 2 3; do $(MAKE) --no-print-directory build-algorithm TASK=$$task || exit 1; done

test-containers: $(STAMP)
	$(PY) -m pytest -q -m container test/containers

# One gzip'd docker-archive per image, the file Grand Challenge takes for upload.
SAVE_CMD = $(ENGINE_CMD) save $(if $(filter podman,$(ENGINE)),--format docker-archive)
define save_image
	@set -o pipefail; out=build/$$(echo "$(1)" | tr ':/' '--').tar.gz; mkdir -p build; \
	base=$$($(ENGINE_CMD) image inspect --format '{{ index .Config.Labels "org.hecktor.base-image" }}' $(1)); \
	echo "saving $(1) -> $$out ..."; \
	$(SAVE_CMD) $(1) | gzip -1 > $$out.part && mv $$out.part $$out; \
	echo "$$out: $$(du -h $$out | cut -f1)"; \
	if [[ "$(1)" == $(ALGORITHM_REPO):* && "$$base" == "$(LOCAL_BASE_IMAGE)" ]]; then echo "warning: $(1) was" \
		"built on $$base (BASE=local): CPU-only torch, useless on Grand Challenge's GPUs; build with BASE=public" >&2; fi
endef

save: build-algorithm
	$(call save_image,$(ALGORITHM_IMAGE))

save-evaluation: build-evaluation
	$(call save_image,$(EVALUATION_IMAGE))

save-phases: build-phases
	$(call save_image,$(ALGORITHM_REPO):task1$(MODE_SUFFIX))
	$(call save_image,$(ALGORITHM_REPO):task2$(MODE_SUFFIX))
	$(call save_image,$(ALGORITHM_REPO):task3$(MODE_SUFFIX))

# The weights alone, for Grand Challenge's separate model upload (unpacked to /opt/ml/model/ in the container).
save-model:
	@mkdir -p build && tar -C algorithm/resources/model -czf build/model.tar.gz --exclude cache --exclude checkpoints --exclude '*.log' .
	@echo "build/model.tar.gz: $$(du -h build/model.tar.gz | cut -f1)"

# Removes this kit's images (the local base included), the wheelhouse and saved archives.
clean-containers:
	-$(ENGINE_CMD) rmi --force $$($(ENGINE_CMD) images --format '{{.Repository}}:{{.Tag}}' \
		| grep -E '(^|/)(hecktor-algorithm|hecktor-evaluation|hecktor-base):') 2>/dev/null
	rm -rf $(WHEELHOUSE) build/*.tar.gz build/base-rootfs*

# ---- Benchmarks ------------------------------------------------------------------------------------
# Synthetic realistic-size cases with fixed seeds, cached in bench/output/data (bench/). BENCH_ARGS passes
# options to bench.run (e.g. --quick; that overwrites RESULTS.md with quick figures).
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) -m bench.run --out bench/output --results-md bench/RESULTS.md $(BENCH_ARGS)

bench-gpu: $(STAMP)
	$(PY) -m bench.run --device cuda --out bench/output/gpu --results-md bench/RESULTS-gpu.md $(BENCH_ARGS)
