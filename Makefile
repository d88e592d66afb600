# ironlb Makefile. Sections are owned by different areas; keep edits inside yours.

.PHONY: all
all: generate

##### BEGIN generate (API types and CRDs: api/, config/crd/) #####

CONTROLLER_GEN ?= go run sigs.k8s.io/controller-tools/cmd/controller-gen
CRD_DIR := config/crd/bases

.PHONY: generate
generate: ## Regenerate deepcopy code and CRD manifests from api/.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=$(CRD_DIR)

.PHONY: verify-generate
verify-generate: ## Fail if api/*/zz_generated.deepcopy.go or config/crd/bases differ from a fresh run.
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for d in api/*/; do \
		if ls $$d*_types.go >/dev/null 2>&1; then \
			$(CONTROLLER_GEN) object paths=./$$d output:object:dir="$$tmp/$$d"; \
		fi; \
	done; \
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config="$$tmp/$(CRD_DIR)"; \
	status=0; \
	for f in $$(cd "$$tmp" && find api -name zz_generated.deepcopy.go); do \
		diff -u "$$f" "$$tmp/$$f" || status=1; \
	done; \
	diff -ru $(CRD_DIR) "$$tmp/$(CRD_DIR)" || status=1; \
	if [ $$status -ne 0 ]; then \
		echo "verify-generate: generated files are out of date; run 'make generate' and commit the result" >&2; \
		exit 1; \
	fi; \
	echo "verify-generate: generated files are up to date"

##### END generate #####

##### BEGIN build and test #####

GO ?= go
BIN := bin

.PHONY: build
build: ## Build the controller, the speaker and the lab into bin/.
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: deps
deps: ## Install the Debian packages and build the real kube-apiserver, etcd and kubectl (cached).
	hack/install-deps.sh
	hack/kube-binaries.sh >/dev/null

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: test
test: deps verify-generate lint ## Every test: unit, fuzz seeds, API server integration and (as root) network namespace tests, with -race.
	KUBEBUILDER_ASSETS=$$(hack/kube-binaries.sh) IRONLB_REQUIRE_APISERVER=1 $(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /test/e2e)
	@# The layer-2 end-to-end suite runs alone: its speakers' liveness timing assumes a
	@# machine that is not also running every other test package at the same time.
	KUBEBUILDER_ASSETS=$$(hack/kube-binaries.sh) IRONLB_REQUIRE_APISERVER=1 \
		IRONLB_REQUIRE_NETNS=$$([ "$$(id -u)" = 0 ] && echo 1) $(GO) test -race -count=1 -timeout 20m ./test/e2e/

.PHONY: e2e
e2e: deps ## The layer-2 end-to-end suite alone (root: network namespaces).
	KUBEBUILDER_ASSETS=$$(hack/kube-binaries.sh) $(GO) test -count=1 -timeout 20m -v ./test/e2e/

.PHONY: lab
lab: deps build ## The local lab: a real control plane, three simulated nodes, a Service getting an IP and answering traffic.
	$(GO) run ./cmd/ironlb-lab

.PHONY: bench
bench: deps ## Headline benchmarks, each printing its figure and the ratio to a baseline measured in the same run.
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/allocator/ ./internal/rendezvous/
	KUBEBUILDER_ASSETS=$$(hack/kube-binaries.sh) $(GO) run ./bench/allocation -services 5000
	$(GO) run ./bench/bgp -routes 200

.PHONY: bench-failover
bench-failover: deps build ## Layer-2 failover: crash, link cut, graceful stop, partition and pause, 20 trials each (needs root).
	$(GO) run ./bench/failover -trials 20

##### END build and test #####

##### BEGIN ship (images, chart, alerts: cmd/ironlb-image, internal/image, charts/, config/prometheus) #####

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# One timestamp for every file and config in the images: the last commit's, so a
# rebuild of the same commit gives the same digests.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Evaluate once: a commit made during a long build must not split binaries and labels.
VERSION := $(VERSION)
REVISION := $(REVISION)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
STATIC_LDFLAGS := -s -w -buildid= -X github.com/ironlb/ironlb/internal/version.Version=$(VERSION) -X github.com/ironlb/ironlb/internal/version.Revision=$(REVISION)

.PHONY: build-static
build-static: ## Static, reproducible controller, speaker and pause binaries into bin/static/ (what the images hold).
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(STATIC_LDFLAGS)' -o $(BIN)/static/ ./cmd/controller ./cmd/speaker ./cmd/ironlb-pause

.PHONY: images
images: build-static ## OCI image archives (no Docker, no base image) into bin/images/: ctr images import / podman load.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./cmd/ironlb-image --bin-dir $(BIN)/static --out $(BIN)/images \
		--version $(VERSION) --revision $(REVISION)

.PHONY: chart-crds
chart-crds: ## Copy the generated CRDs into the Helm chart (test/helmchart fails when they differ).
	rm -f charts/ironlb/crds/*.yaml
	cp $(CRD_DIR)/*.yaml charts/ironlb/crds/

##### END ship #####
