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
