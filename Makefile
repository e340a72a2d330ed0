# Palisade. `make demo` runs the sandbox demo; `make test` runs every test.
# Both install what is missing first: npm packages (including the pinned Node 24 LTS
# binary, node_modules/.bin/node) and, as root, iptables, ipset, nftables, iproute2, conntrack,
# tcpdump and openssl via apt-get. `make bench` also installs wrk and iperf3 (the datapath figures).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: all deps npm-deps sys-deps bench-deps build test test-unit lint format demo bench soak clean image kind-up deploy e2e-kind undeploy

all: build

npm-deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

sys-deps:
	@missing=""; \
	command -v iptables-restore >/dev/null || missing="$$missing iptables"; \
	command -v ipset >/dev/null || missing="$$missing ipset"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v conntrack >/dev/null || missing="$$missing conntrack"; \
	command -v tcpdump >/dev/null || missing="$$missing tcpdump"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (run: sudo apt-get install$$missing)"; fi; \
	fi

deps: npm-deps sys-deps

# The bench's datapath figures drive real traffic through the rules: wrk (connection rate) and
# iperf3 (throughput).
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v iperf3 >/dev/null || missing="$$missing iperf3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (run: sudo apt-get install$$missing)"; fi; \
	fi

build: npm-deps
	npm run -s build

test: deps build
	NODE_OPTIONS=--experimental-vm-modules jest --ci

test-unit: npm-deps
	NODE_OPTIONS=--experimental-vm-modules jest --ci --selectProjects unit

lint: npm-deps
	npm run -s lint

format: npm-deps
	npx prettier --write .

demo: deps build
	bash examples/demo.sh

bench: deps bench-deps build
	npm run -s bench

# The soak: a live sandbox under churn and faults, real packets against analyze (e2e/soak).
MINUTES ?= 30
TOPOLOGY ?= routed
AGENT_ARGS ?=
soak: deps build
	node dist/agent/cli/main.js soak --minutes $(MINUTES) --topology $(TOPOLOGY) $(addprefix --agent-arg=,$(AGENT_ARGS)) --out soak-$(TOPOLOGY)-$(MINUTES)min.json

clean:
	rm -rf dist coverage

include manifests/deploy.mk
