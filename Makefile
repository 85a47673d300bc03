# Entry points for developers and CI. On a fresh machine with Go, Node.js
# with npm and Debian's apt, two commands do all the set-up themselves:
#
#   make demo   run the main job end to end on embedded defaults
#   make test   run the whole test suite
#
# `make help` lists every target. stripe-mock is installed into .cache/bin
# (gitignored), Node packages into api/node_modules, and promtool from
# Debian's prometheus package.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# The phases of `make test` run one after another even under -j: they share
# two cores, and their output has to read top to bottom.
.NOTPARALLEL:
MAKEFLAGS += --no-builtin-rules --no-print-directory

GO ?= go
CACHE := $(CURDIR)/.cache
BIN := $(CACHE)/bin
STAMPS := $(CACHE)/stamps
LOGS := $(CACHE)/logs

# The stripe-mock release that the Stripe gateway tests run against. Keep it
# equal to Version in internal/testkit/stripemock, which uses the binary
# named by STRIPE_MOCK_BIN instead of installing its own.
STRIPE_MOCK_VERSION := v0.203.0
STRIPE_MOCK := $(BIN)/stripe-mock-$(STRIPE_MOCK_VERSION)

# Go's FIPS 140-3 cryptographic module that the image is built with. Go
# 1.26 accepts off, latest, v1.0.0, v1.26.0 and the aliases certified (for
# v1.0.0) and inprocess (for v1.26.0); see $(go env GOROOT)/lib/fips140.
# v1.0.0 is the module that Go names as certified. The explicit version
# keeps a later Go release from moving the alias to another module.
GOFIPS140 := v1.0.0
# Environment of the builds that match the Dockerfile's build stage. -trimpath
# goes in GOFLAGS so that the go build commands that tests run (the e2e
# harness builds cmd/processor) use it too and share the compiled packages.
IMAGE_BUILD_ENV := CGO_ENABLED=0 GOFIPS140=$(GOFIPS140) GOFLAGS="-trimpath $(GOFLAGS)"

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# Timeout of one `go test` run of the whole module. The race run takes
# minutes on two cores, and a hung test must still end the run.
TEST_TIMEOUT ?= 30m
FUZZTIME ?= 10m

.PHONY: help
help: ## List the targets.
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# Set-up

.PHONY: setup
setup: $(STAMPS)/go-modules $(STRIPE_MOCK) $(STAMPS)/npm-api promtool ## Install what the tests need (fast when done).

$(STAMPS)/go-modules: go.mod go.sum
	@echo "setup: downloading Go modules"
	$(GO) mod download
	@mkdir -p $(@D) && touch $@

# Installed outside the module, so this repository's go.mod cannot change
# what is built, and renamed with its version so a version change installs
# again.
$(STRIPE_MOCK):
	@echo "setup: installing github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)"
	@mkdir -p $(BIN)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		(cd "$$tmp" && GOBIN="$$tmp" GOWORK=off GOFLAGS=-buildvcs=false \
			$(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)) && \
		mv "$$tmp/stripe-mock" $@

$(STAMPS)/npm-api: api/package.json api/package-lock.json
	@echo "setup: npm ci in api/"
	npm ci --prefix api --no-audit --no-fund --loglevel=error >/dev/null
	@mkdir -p $(@D) && touch $@

.PHONY: promtool
promtool:
	@bash scripts/install-promtool.sh

.PHONY: postgres
postgres: ## Start the local PostgreSQL if it is down and create the database test.
	@bash scripts/start-postgres.sh

# Tests

.PHONY: test
test: setup postgres vet test-race test-fips lint-api check-observability flowcheck image-check ## Run the whole test suite.
	@echo "make test: all phases passed"

# go vet compiles every dependency first. With the image's build settings it
# compiles them once for vet, the FIPS run and image-check together, which
# saves minutes on a machine whose build cache is empty. Vet reads the same
# source either way, because no package here uses cgo or FIPS build tags.
.PHONY: vet
vet:
	@echo "==> go vet"
	$(IMAGE_BUILD_ENV) $(GO) vet ./...

# The race run and the FIPS run both use the stripe-mock from setup; the
# harness keeps stripe-mock's output, which contains card numbers, in a file
# of the test's temporary directory, so no -v flag is added here.
test-race test-fips: export STRIPE_MOCK_BIN := $(STRIPE_MOCK)

.PHONY: test-race
test-race: $(STRIPE_MOCK) ## Run the unit tests with the race detector.
	@echo "==> go test -race"
	bash scripts/gotest.sh $(LOGS)/go-test-race.log -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# The second run builds like the image (same FIPS module, CGO_ENABLED=0,
# -trimpath) and runs in FIPS mode, so a test that passes only outside FIPS
# mode fails here, and image-check then reuses the compiled packages. It
# skips the race detector to save time, because the first run covers data
# races.
.PHONY: test-fips
test-fips: $(STRIPE_MOCK) ## Run the unit tests again with GODEBUG=fips140=on.
	@echo "==> go test with GOFIPS140=$(GOFIPS140) GODEBUG=fips140=on"
	$(IMAGE_BUILD_ENV) GODEBUG=fips140=on \
		bash scripts/gotest.sh $(LOGS)/go-test-fips.log -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: lint-api
lint-api:
	@echo "==> api/lint.sh"
	bash api/lint.sh

.PHONY: check-observability
check-observability: promtool
	@echo "==> deploy/observability/check.sh"
	bash deploy/observability/check.sh

# Checks the PCI rules of the Connect contact flows in internal/flowcheck:
# recording off during card capture and back on before the contact leaves,
# stored input encrypted, and no card data in contact attributes.
.PHONY: flowcheck
flowcheck:
	@echo "==> flowcheck deploy/connect"
	$(GO) run ./cmd/flowcheck deploy/connect/*.json

# Builds the binary exactly as the Dockerfile does (Docker cannot run on
# every developer machine or in CI) and checks from its build information
# that the FIPS module is compiled in and FIPS mode is on by default.
.PHONY: image-check
image-check: ## Build the image's binary locally and show its FIPS settings.
	@echo "==> image binary: GOFIPS140=$(GOFIPS140) CGO_ENABLED=0 go build -trimpath"
	$(IMAGE_BUILD_ENV) $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
		-o $(CACHE)/image/processor ./cmd/processor
	@info=$$($(GO) version -m $(CACHE)/image/processor | grep -E '^\s+build\s') && \
		echo "$$info" && \
		for want in 'GOFIPS140=$(GOFIPS140)' 'DefaultGODEBUG=.*fips140=on' 'CGO_ENABLED=0' '-trimpath=true'; do \
			if ! grep -Eq -- "build\s+$$want" <<<"$$info"; then \
				echo "image-check: build information lacks $$want" >&2; \
				exit 1; \
			fi; \
		done
	@echo "image-check: processor $$($(CACHE)/image/processor version) built with GOFIPS140=$(GOFIPS140), FIPS mode on by default"

# Demo, fuzzing, leak check and benchmarks

.PHONY: demo
demo: $(STAMPS)/go-modules ## Run the scripted phone payment end to end.
	$(GO) run ./cmd/demo

.PHONY: fuzz
fuzz: ## Fuzz the decrypt entry point for FUZZTIME (default 10m).
	$(GO) test -run '^$$' -fuzz '^FuzzDecryptMessage$$' -fuzztime $(FUZZTIME) ./internal/decrypt

# The guard fails when e2e/ has no TestLeak test, because `go test -run`
# that matches nothing passes without checking anything.
.PHONY: leakcheck
leakcheck: $(STAMPS)/go-modules ## Run the end-to-end test that scans every output for card data.
	@if ! grep -rqs --include='*_test.go' '^func TestLeak' e2e; then \
		echo "leakcheck: no TestLeak test in e2e/, so nothing was checked" >&2; \
		exit 1; \
	fi
	$(GO) test -run TestLeak -count=1 -timeout $(TEST_TIMEOUT) ./e2e/...

.PHONY: bench
bench: $(STAMPS)/go-modules ## Run the decrypt benchmarks against the JavaScript ESDK (bench/run.sh).
	bash bench/run.sh

.PHONY: clean
clean: ## Remove .cache/ (installed tools, stamps, logs, the image binary).
	rm -rf $(CACHE)
