# zshard — build, test and run targets. `make help` lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
BIN      := $(CURDIR)/bin
TOOL_BINS := $(BIN)/consul $(BIN)/staticcheck $(BIN)/benchstat

# Packages with goroutines, sockets or processes: their tests run under the
# race detector. The pure packages (sharding, protocol) run without it.
RACE_PATTERNS := ./internal/... ./consul/... ./server_consumer/... ./client_producer/...
TEST_TIMEOUT  ?= 30m

# bench: BENCH selects benchmarks, PKGS the packages, COUNT the repetitions.
BENCH ?= .
PKGS  ?= ./...
COUNT ?= 5
# fuzz: how long each Fuzz target runs.
FUZZTIME ?= 30s

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: bootstrap
bootstrap: ## install missing system packages (libzmq, pkg-config, python3-zmq)
	@scripts/bootstrap.sh

.PHONY: tools
tools: $(TOOL_BINS) ## build the pinned tools (consul, staticcheck, benchstat) into bin/

# One build for all tools, redone only when the tools module changes.
$(TOOL_BINS) &: tools/go.mod tools/go.sum
	@mkdir -p $(BIN)
	@echo "tools: building $(notdir $(TOOL_BINS)) into bin/ (Consul takes about 3 minutes the first time)"
	cd tools && $(GO) build -o $(BIN)/ tool
	@touch $(TOOL_BINS)

.PHONY: build
build: bootstrap ## build server_consumer and client_producer into bin/
	$(GO) build -o $(BIN)/ ./server_consumer ./client_producer

.PHONY: vet
vet: bootstrap
	$(GO) vet ./...

.PHONY: test
test: bootstrap tools vet ## vet and run every test: unit, integration (real Consul, real ZeroMQ), race detector
	@race=$$($(GO) list $(RACE_PATTERNS) 2>/dev/null || true); \
	plain=$$($(GO) list ./... | grep -vxF -e "$${race:-^$$}" || true); \
	if [ -n "$$plain" ]; then $(GO) test -timeout $(TEST_TIMEOUT) $$plain; fi; \
	if [ -n "$$race" ]; then $(GO) test -race -timeout $(TEST_TIMEOUT) $$race; fi

.PHONY: test-short
test-short: bootstrap ## unit tests only (-short: no Consul, no long runs)
	$(GO) test -short ./...

.PHONY: test-history
test-history: bootstrap tools ## the seeded fault-injection history test (minutes; SEED=n reruns one)
	ZSHARD_HISTORY=1 $(if $(SEED),ZSHARD_HISTORY_SEED=$(SEED)) $(GO) test -count=1 -timeout 40m -run TestHistory -v ./internal/faulttest

.PHONY: bench
bench: bootstrap tools ## run benchmarks (BENCH=regexp PKGS=./sharding COUNT=5) and summarise with benchstat
	@mkdir -p $(BIN)
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -count=$(COUNT) $(PKGS) | tee $(BIN)/bench.txt
	$(BIN)/benchstat $(BIN)/bench.txt

.PHONY: fuzz
fuzz: bootstrap ## run every Fuzz target for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz: $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

.PHONY: lint
lint: bootstrap tools ## gofmt, go vet and staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

.PHONY: tidy-check
tidy-check: ## fail if go.mod/go.sum of any module (main, tools, deploy/helm/check) are not tidy
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	cd deploy/helm/check && $(GO) mod tidy -diff

.PHONY: consul
consul: tools ## run a Consul dev agent in the foreground on 127.0.0.1:8500 (Ctrl-C stops it)
	$(BIN)/consul agent -dev -bind 127.0.0.1 -client 127.0.0.1

.PHONY: demo
demo: bootstrap tools ## run the end-to-end demo: Consul, nodes, producer; all torn down after
	scripts/demo.sh

.PHONY: clean
clean: ## remove bin/ and cached test results
	rm -rf $(BIN)
	$(GO) clean -testcache

# ---- containers: images built locally, end-to-end test on docker-compose ----

.PHONY: docker-images
docker-images: bootstrap ## build zshard/zshard:local and zshard/consul:local with no registry (debootstrap base, cached)
	docker/build-images.sh

.PHONY: e2e-docker
e2e-docker: docker-images ## end-to-end test on containers: compose up, node faults, rebalancing, the secure variant, compose down (internal/e2e)
	$(GO) vet -tags e2e ./internal/e2e
	$(GO) test -tags e2e -count=1 -v -timeout 30m -run '^TestDocker' ./internal/e2e

.PHONY: e2e-swarm
e2e-swarm: docker-images ## end-to-end test on Docker Swarm: deploy/swarm stack, task killed, node added and removed, stack removed
	$(GO) vet -tags e2e ./internal/e2e
	$(GO) test -tags e2e -count=1 -v -timeout 20m -run '^TestSwarmStack$$' ./internal/e2e

# ---- Kubernetes: the Helm chart checked without a cluster ----------------------

.PHONY: k8s-check
k8s-check: ## render the Helm chart (deploy/helm/zshard) for several value sets, lint it, decode every object strictly
	cd deploy/helm/check && $(GO) vet ./... && $(GO) test -count=1 ./...

# ---- the classroom lab guide: every command run, every output compared ----

.PHONY: lab-check
lab-check: bootstrap tools ## run every command of docs/LAB.md on a private cluster and compare the outputs
	$(GO) vet -tags lab ./internal/labcheck
	$(GO) test -tags lab -count=1 -v -timeout 30m ./internal/labcheck

.PHONY: lab-update
lab-update: bootstrap tools ## rerun docs/LAB.md and write the real outputs and plots into docs/
	$(GO) test -tags lab -count=1 -v -timeout 30m ./internal/labcheck -args -update

.PHONY: soak
soak: ## long load tests of a real node process (latency and memory bounds; minutes)
	ZSHARD_SOAK=1 $(GO) test -count=1 -v -timeout 30m ./internal/soak/
