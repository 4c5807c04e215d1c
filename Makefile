# The smart-city IoT platform. Every target installs what it needs first:
#   make synth   synthesize all four stacks into cdk.out/ (fails on any unsuppressed finding)
#   make test    run every test (unit, synth, emulator and broker tests)
# See README.md for the rest.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STAGE ?= dev
# The pinned Node (22) and CDK CLI from package-lock.json come first, so jsii and the CLI
# run on Node 22 whatever the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export GOFLAGS ?= -buildvcs=false
# Test timeouts are generous because jsii synth tests share two cores.
GOTEST_FLAGS ?= -count=1 -timeout 30m
BENCH_COUNT ?= 6
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
MOSQUITTO := $(shell command -v mosquitto 2>/dev/null || ls /usr/sbin/mosquitto 2>/dev/null)

.PHONY: help deps node-deps go-deps broker synth diff deploy test test-unit bench fuzz lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The CDK CLI ships Go templates under node_modules; a go.mod there keeps them out of ./...
node_modules/go.mod: node_modules/.package-lock.json
	@printf 'module ignored/node_modules\n' > $@

node-deps: node_modules/.package-lock.json node_modules/go.mod ## install the pinned Node and CDK CLI (npm ci)
	@node --version | grep -q '^v22\.' || { echo "expected Node 22 from node_modules, got $$(node --version)"; exit 1; }

go-deps: ## download the pinned Go modules
	go mod download

deps: node-deps go-deps ## install everything synth needs

broker: ## install mosquitto (Debian) for the device simulator's broker test
ifeq ($(MOSQUITTO),)
	@echo "installing mosquitto (Debian package) for the broker test"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
	@systemctl disable --now mosquitto >/dev/null 2>&1 || true
endif

synth: deps ## synthesize every stack into cdk.out/ (STAGE=dev|prod)
	cdk synth --quiet -c stage=$(STAGE)
	@echo "cdk.out/: $$(ls cdk.out/*.template.json | wc -l) templates for stage $(STAGE)"

diff: deps ## compare with what is deployed (needs AWS credentials)
	cdk diff --all -c stage=$(STAGE)

deploy: deps ## deploy every stack (needs AWS credentials and cdk bootstrap)
	cdk deploy --all -c stage=$(STAGE) --require-approval broadening

test: deps broker ## run every test
	@if command -v cfn-lint >/dev/null; then echo "cfn-lint $$(cfn-lint --version 2>&1 | awk '{print $$2}'): TestCfnLintSecure lints every dev and prod template"; else echo "cfn-lint: SKIPPED, not on PATH: the synthesized templates are not linted (pip install cfn-lint)"; fi
	SMARTCITY_REQUIRE_EMULATORS=1 SMARTCITY_REQUIRE_BROKER=1 go test $(GOTEST_FLAGS) ./...

bench: deps ## run the benchmarks and summarize them with benchstat (results in .bench/)
	@mkdir -p .bench
	go test -run='^$$' -bench=. -benchmem -count=$(BENCH_COUNT) ./lambdas/... | tee .bench/new.txt
	go run $(BENCHSTAT) .bench/new.txt
	go run ./cmd/cost -update-figures bench/telemetry.json < .bench/new.txt

# The priced fleet of issue 13, whose table the README shows (with the plot). Another fleet,
# make cost COST_FLAGS='-devices 5000 -rate 1/min -bytes 512', leaves the README alone.
COST_FLAGS ?= -devices 100000 -rate 1/min -bytes 1024
COST_DOCS := -plot docs/cost.svg -readme README.md
ifneq ($(origin COST_FLAGS),file)
COST_DOCS :=
endif
.PHONY: cost
cost: ## price prod for a fleet (COST_FLAGS); writes docs/cost.svg and the README's cost section
	$(MAKE) synth STAGE=prod
	go run ./cmd/cost $(COST_FLAGS) -stage prod -region us-east-1 $(COST_DOCS)

fuzz: ## fuzz the telemetry decoder and validator (FUZZTIME=60s)
	go test -run='^$$' -fuzz=FuzzDecodeValidate -fuzztime=$${FUZZTIME:-60s} ./lambdas/telemetry/pipeline

lint: node_modules/go.mod ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

clean: ## remove build output
	rm -rf cdk.out .bench
