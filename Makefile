# bcosdata — every developer and CI entry point. `make help` lists the targets.
# Tools run through `go run` at pinned versions: nothing to install beyond Go (and the
# PostgreSQL server binaries the tests start themselves). grpcurl, which the demo's printed
# commands call, is `go install`ed into bin/ at a pinned version (make tools).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BUF_VERSION           := v1.75.0
GOLANGCI_LINT_VERSION := v2.15.0
GRPCURL_VERSION       := v1.9.4
BUF                   := go run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
GOLANGCI_LINT         := go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

# Every module of the workspace (go test ./... does not work at a go.work root without a module).
MODULE_DIRS := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
PKGS        := $(addsuffix /...,$(MODULE_DIRS))
BINARIES    := stash export reconcile fiscosim bcosdata
# -version of every binary prints this; an image build passes it as a build argument.
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LDFLAGS     := -X github.com/bcosdata/bcosdata/libs/app.Version=$(VERSION)

# Tests: per-package timeout, and a short fixed budget for every fuzz target.
TEST_TIMEOUT ?= 10m
FUZZ_TIME    ?= 4s
BENCH_TIME   ?= 1x
GOTESTFLAGS  ?=

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: tools
tools: bin/grpcurl ## install grpcurl into bin/ (the demo prints grpcurl commands; its test runs them)

# Installed again when this file (and so the pinned version) changes.
bin/grpcurl: Makefile
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	@touch $@

.PHONY: demo
demo: build tools ## run the whole pipeline locally on embedded defaults (options: make demo ARGS="-blocks 200 -exit-when-done -json")
	./bin/bcosdata demo $(ARGS)

.PHONY: test
test: tools ## run all tests (unit, PostgreSQL, Kafka, fixtures) and a short fuzz pass
	go test -count=1 -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) $(PKGS)
	FUZZ_TIME=$(FUZZ_TIME) ./scripts/fuzz-smoke.sh $(PKGS)

.PHONY: test-race
test-race: tools ## run all tests with the race detector
	go test -count=1 -race -timeout $(TEST_TIMEOUT) $(PKGS)

.PHONY: bench
bench: ## run the benchmarks; each prints its figure beside a ceiling measured in the same run
	@# -p 1: one package at a time, so no benchmark shares the cores with another's build or run.
	@# The benchmarks' PostgreSQL gets shared_buffers of a small production server, not the
	@# tests' 32MB; every ceiling is measured on the same server.
	BCOSDATA_TEST_PG_SHARED_BUFFERS=$${BCOSDATA_TEST_PG_SHARED_BUFFERS:-1GB} go test -p 1 -run '^$$' -bench . -benchtime $(BENCH_TIME) -timeout 60m $(PKGS)

.PHONY: build
build: ## build the binaries into bin/
	@mkdir -p bin
	go build -ldflags '$(LDFLAGS)' -o bin/stash ./services/stash/cmd/stash
	go build -ldflags '$(LDFLAGS)' -o bin/export ./services/export/cmd/export
	go build -ldflags '$(LDFLAGS)' -o bin/reconcile ./services/reconcile/cmd/reconcile
	go build -ldflags '$(LDFLAGS)' -o bin/fiscosim ./services/fiscosim/cmd/fiscosim
	go build -ldflags '$(LDFLAGS)' -o bin/bcosdata ./services/bcosdata/cmd/bcosdata

.PHONY: generate
generate: ## regenerate protobuf code
	cd proto && $(BUF) lint && $(BUF) generate

.PHONY: contracts
contracts: ## recompile fiscosim's sample contracts with solc 0.6.10 (needs node and npm)
	$(MAKE) -C services/fiscosim/internal/contracts contracts

.PHONY: tidy
tidy: ## go mod tidy every module
	@for d in $(MODULE_DIRS); do (cd $$d && GOWORK=off go mod tidy); done

.PHONY: verify
verify: generate tidy ## regenerate and tidy, then fail if anything changed
	@git diff --exit-code -- . ':(exclude)go.work.sum' || { echo "generated code or go.mod files are stale: run make generate tidy and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- proto)" || { git status --porcelain -- proto; echo "untracked generated files"; exit 1; }

.PHONY: lint
lint: ## gofmt, go vet and golangci-lint
	@out=$$(gofmt -l $(MODULE_DIRS)); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	go vet $(PKGS)
	@for d in $(MODULE_DIRS); do echo "golangci-lint $$d"; (cd $$d && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...); done

.PHONY: clean
clean: ## remove build output
	rm -rf bin
