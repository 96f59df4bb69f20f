# vault-plugin-secrets-passwordsafe
SHELL := /bin/bash
GO ?= go
VERSION ?= 0.1.0
PLUGIN := vault-plugin-secrets-passwordsafe
LDFLAGS := -X main.version=v$(VERSION)
STATICCHECK_VERSION ?= v0.8.2
# Short fuzz runs in CI; longer locally with FUZZTIME=1m.
FUZZTIME ?= 10s

.PHONY: all build vault test unit compat e2e lint scripts-test fmt bench soak fuzz simulate dev demo release release-verify clean

all: build

build: ## the plugin and the simulator into bin/
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/$(PLUGIN) ./cmd/$(PLUGIN)
	$(GO) build -trimpath -o bin/passwordsafe-sim ./cmd/passwordsafe-sim

vault: ## bin/vault: a supported Vault on PATH (or VAULT_BIN) if there is one, else built from the Go module proxy (slow the first time; VAULT_VERSION=v1.x.y for another, VAULT_BUILD=1 to always build)
	bash scripts/build-vault.sh

test: lint unit compat e2e scripts-test ## everything CI runs (scripts-test last: its real-Vault cases use the bin/vault that e2e builds)

scripts-test: ## tests of the shell scripts' decisions (never builds Vault)
	bash scripts/test-build-vault.sh

unit: ## unit and backend tests (no Vault binary needed)
	$(GO) test -race -count=1 ./...

compat: ## BeyondTrust's own Go client library against our simulator (its own module)
	cd e2e/compat && $(GO) test -count=1 ./...

e2e: build vault ## end-to-end tests against bin/vault and the plugin binary (E2E_KEEP_LOGS=1 keeps every log)
	E2E_PLUGIN_VERSION=v$(VERSION) $(GO) test -count=1 -timeout 30m -tags e2e ./e2e/...

lint: ## gofmt, go vet, staticcheck (the root module and e2e/compat), bash -n of the scripts
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for f in $$(git ls-files '*.sh' .ci/run); do bash -n "$$f" || exit 1; done
	$(GO) vet ./...
	$(GO) vet -tags 'e2e soak' ./e2e/...
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$$($(GO) env GOPATH)/bin/staticcheck ./...
	$$($(GO) env GOPATH)/bin/staticcheck -tags 'e2e soak' ./e2e/...
	cd e2e/compat && $(GO) vet ./... && $$($(GO) env GOPATH)/bin/staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench: build vault ## benchmarks against the floor plugin (e2e/floorplugin); rewrites BENCHMARKS.md (BENCH_QUICK=1: a smoke run of a few minutes)
	bash scripts/bench.sh

soak: build vault ## longer fault and load tests
	$(GO) test -count=1 -timeout 60m -tags 'e2e soak' -run '^TestSoak' -v ./e2e/...

SIM_OPS ?= 200000
SIM_BASE ?= 1
simulate: ## the deterministic simulation with a large budget (SIM_OPS operations from seed SIM_BASE)
	SIM_OPS=$(SIM_OPS) SIM_BASE=$(SIM_BASE) $(GO) test -count=1 -timeout 0 -run '^TestSimulation$$' -v ./backend/

fuzz: ## each fuzz target for FUZZTIME
	bash scripts/fuzz.sh $(FUZZTIME)

dev: build vault ## simulator + Vault dev server + plugin, stays up until Ctrl-C
	PLUGIN_VERSION=v$(VERSION) bash scripts/dev.sh

demo: build vault ## the dev flow, non-interactive: checkout, renew, revoke, exit
	PLUGIN_VERSION=v$(VERSION) bash scripts/dev.sh --demo

release: ## reproducible release into dist/: zip, bare binary and SBOM per platform, SHA256SUMS (VERSION=x.y.z; RELEASE_PLATFORMS="linux/amd64 ..." for fewer)
	bash scripts/release.sh $(VERSION)

release-verify: ## builds the release twice and compares, checks archives and version stamps (one platform per OS; RELEASE_PLATFORMS=all for every one)
	bash scripts/release-verify.sh $(VERSION)

clean:
	rm -rf bin/ dist/
