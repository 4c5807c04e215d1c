# The smart-city IoT platform. Every target installs what it needs first:
#   make synth   synthesize all four stacks into cdk.out/ (fails on any unsuppressed finding)
#   make test    run every test (unit, synth, emulator and broker tests)
#   make city    run the whole platform on this machine (127.0.0.1) with the web Control Center
# See README.md for the rest (first run: about 6 minutes and 2.5 GB of caches).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STAGE ?= dev
# The pinned Node (22) and CDK CLI from package-lock.json come first, so jsii and the CLI
# run on Node 22 whatever the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export GOFLAGS ?= -buildvcs=false
# Exactly the toolchain go.mod names, not "this one or newer": the Lambda binaries, and so the
# asset hashes in the templates, depend on the Go version. A different local Go downloads
# this one from the module proxy once.
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)
# Synth pins no environment unless ACCOUNT and REGION say so (make diff and deploy need them).
ACCOUNT ?=
REGION ?=
CDK_ENV := $(if $(ACCOUNT),-c account=$(ACCOUNT)) $(if $(REGION),-c region=$(REGION))
CDK_VERSION := $(shell sed -n 's/.*"aws-cdk": "\(.*\)".*/\1/p' package.json)
NODE_VERSION := $(shell sed -n 's/.*"node": "\([0-9.]*\)".*/\1/p' package.json)
AWSCDK_GO := $(shell awk '$$1 == "github.com/aws/aws-cdk-go/awscdk/v2" {print $$1 "@" $$2}' go.mod)
# Test timeouts are generous because jsii synth tests share two cores.
GOTEST_FLAGS ?= -count=1 -timeout 30m
BENCH_COUNT ?= 6
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
MOSQUITTO := $(shell command -v mosquitto 2>/dev/null || ls /usr/sbin/mosquitto 2>/dev/null)
CHROMIUM := $(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)
# make city: CITY_FLAGS="-devices 48 -rate 0.5" (go run ./cmd/city -h lists them)
CITY_FLAGS ?=

.PHONY: help deps node-deps go-deps broker chromium city synth diff deploy need-env test test-unit bench fuzz lint diagram clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Installs only when node_modules does not hold exactly the devDependencies package.json pins
# (one node call reading their package.json files). Comparing file times reinstalled after
# every fresh checkout; and npm ci replaces node_modules, so it never runs through a symlink
# to an install that other checkouts share.
NODE_PINS_OK = node -e 'const p=require("./package.json");for(const[n,v]of Object.entries(p.devDependencies)){let g;try{g=require("./node_modules/"+n+"/package.json").version}catch{g="missing"}if(g!==v){console.log(n+" "+g+", want "+v);process.exit(1)}}'

node-deps: ## install the pinned Node and CDK CLI (npm ci)
	@if ! out=$$($(NODE_PINS_OK) 2>&1); then \
	  if [ -L node_modules ]; then echo "node_modules is a symlink to a shared install that lacks the pins ($$out); fix it there"; exit 1; fi; \
	  echo "npm ci: installing Node $(NODE_VERSION), the CDK CLI $(CDK_VERSION), dynalite and s3rver into node_modules/ (about 240 MB, first run 15-60 s)"; \
	  npm ci --no-audit --no-fund --loglevel=error; \
	fi
	@# The CDK CLI ships Go templates under node_modules; a go.mod there keeps them out of ./...
	@[ -f node_modules/go.mod ] || printf 'module ignored/node_modules\n' > node_modules/go.mod
	@node --version | grep -q '^v$(NODE_VERSION)$$' || { echo "expected Node $(NODE_VERSION) from node_modules, got $$(node --version)"; exit 1; }

go-deps: ## download the pinned Go modules
	@[ -d "$$(go env GOMODCACHE)/$(AWSCDK_GO)" ] || echo "go mod download: fetching the pinned Go modules, the AWS CDK bindings included (about 1.8 GB in $$(go env GOMODCACHE), first run only)"
	@go mod download

deps: node-deps go-deps ## install everything synth needs

broker: ## install mosquitto (Debian) for the device simulator's broker test
ifeq ($(MOSQUITTO),)
	@echo "installing mosquitto (Debian package) for the broker test"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
	@systemctl disable --now mosquitto >/dev/null 2>&1 || true
endif

chromium: ## install Chromium (Debian) for the Control Center's browser test
ifeq ($(CHROMIUM),)
	@echo "installing chromium (Debian package) for the browser test"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
endif

city: deps broker ## run the platform on 127.0.0.1: devices, broker, rules, processor, command API, Control Center (Ctrl-C stops)
	go build -o bin/city ./cmd/city
	./bin/city $(CITY_FLAGS)

# cdk.out/ is emptied first: templates of another stage left there would be counted, and
# deployed by `cdk deploy --app cdk.out`.
synth: deps ## synthesize every stack into cdk.out/ (STAGE=dev|prod)
	@rm -rf cdk.out
	@echo "cdk synth: compiling the app (go run .), then building the 5 Go Lambda functions and checking the templates; the first run compiles the AWS CDK Go bindings, about 5 minutes on 2 cores"
	cdk synth --quiet -c stage=$(STAGE) $(CDK_ENV)
	@echo "cdk.out/: $$(ls cdk.out/SmartCity-$(STAGE)-*.template.json | wc -l) templates for stage $(STAGE)"

# Synth alone is environment-agnostic (the same templates on every machine); diff and deploy
# name the account and region, so what is compared and deployed never depends on whatever
# profile or AWS_REGION the shell happens to have.
need-env:
	@if [ -z "$(ACCOUNT)" ] || [ -z "$(REGION)" ]; then \
	  echo "make $(MAKECMDGOALS) needs the target environment: make $(MAKECMDGOALS) STAGE=$(STAGE) ACCOUNT=<12-digit account id> REGION=<region, e.g. eu-west-1>"; exit 2; fi

diff: need-env deps ## compare with what is deployed (ACCOUNT=... REGION=..., AWS credentials)
	cdk diff --all -c stage=$(STAGE) $(CDK_ENV)

deploy: need-env deps ## deploy every stack (ACCOUNT=... REGION=..., AWS credentials, cdk bootstrap)
	cdk deploy --all -c stage=$(STAGE) $(CDK_ENV) --require-approval broadening

test: deps broker chromium ## run every test
	@if command -v cfn-lint >/dev/null; then echo "cfn-lint $$(cfn-lint --version 2>&1 | awk '{print $$2}'): TestCfnLintSecure lints every dev and prod template"; else echo "cfn-lint: SKIPPED, not on PATH: the synthesized templates are not linted (pip install cfn-lint)"; fi
	SMARTCITY_REQUIRE_EMULATORS=1 SMARTCITY_REQUIRE_BROKER=1 SMARTCITY_REQUIRE_BROWSER=1 go test $(GOTEST_FLAGS) ./...
	@# Every benchmark still runs (one iteration each), so make bench cannot rot unseen.
	go test -run='^$$' -bench=. -benchtime=1x ./lambdas/... >/dev/null
	@# A second module (another team's) builds its own handler with constructs/golambda.
	cd examples/external-handler && go test $(GOTEST_FLAGS) ./...

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

# golangci-lint, pinned, built by `go run` from the Go module proxy like any module (no install
# script, no binary download); the build and its analysis cache (GOLANGCI_LINT_CACHE, default
# ~/.cache/golangci-lint) are reused from the second run on. .golangci.yml says what it checks.
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

lint: node-deps ## gofmt, go vet and golangci-lint (.golangci.yml)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run $(GOLANGCI_LINT) run ./...

# The architecture picture: docs/architecture.png is rendered from docs/architecture.dot by
# graphviz (Debian package), and committed so that the README shows it without a build.
diagram: ## re-render docs/architecture.png from docs/architecture.dot (graphviz)
	@command -v dot >/dev/null || { echo "installing graphviz (Debian package) for dot"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends graphviz >/dev/null; }
	dot -Tpng -Gdpi=110 docs/architecture.dot -o docs/architecture.png

clean: ## remove build output
	rm -rf cdk.out .bench .city
