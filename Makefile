# difw build. `sudo make demo` and `sudo make test` work on a fresh Debian machine: the `deps`
# target installs what is missing (apt packages, npm modules) before anything is built.
SHELL := /bin/bash
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BUILD := build
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := $(wildcard bpf/lib/*.h bpf/maps/*.h)
# One compiler line for every BPF object (programs, test fixtures, benchmark cost builds).
BPF_CC = $(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -Wall -Werror
TS_SRCS := $(shell find src test bench -name '*.ts' 2>/dev/null)
APT_PKGS := clang llvm libbpf-dev bpftool iproute2 iptables nftables ufw etcd-server iperf3 \
            tcpdump tshark python3-scapy xdp-tools gcc libc6-dev ethtool procps psmisc iputils-ping util-linux
SHARED ?= ../shared

.PHONY: all deps apt npm build bpf ts cost-objs test test-unit test-bpf test-e2e conformance netpol demo bench clean

all: build

deps: apt npm

# Installs the Debian packages only when one of them is missing (dpkg -s is cheap).
apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

npm: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: bpf ts

$(BUILD)/vmlinux.h:
	@mkdir -p $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

bpf: $(BPF_OBJS)
$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	$(BPF_CC) -c $< -o $@

# Test fixtures for the BPF binding (test/fixtures/bpf/*.bpf.c -> build/fixtures/*.bpf.o).
FIXTURE_BPF_SRCS := $(wildcard test/fixtures/bpf/*.bpf.c)
FIXTURE_BPF_OBJS := $(patsubst test/fixtures/bpf/%.bpf.c,$(BUILD)/fixtures/%.bpf.o,$(FIXTURE_BPF_SRCS))
bpf: $(FIXTURE_BPF_OBJS)
$(BUILD)/fixtures/%.bpf.o: test/fixtures/bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(BUILD)/fixtures
	$(BPF_CC) -c $< -o $@

ts: dist/.stamp
dist/.stamp: $(TS_SRCS) tsconfig.json node_modules/.package-lock.json
	npx tsc -p tsconfig.json
	@touch $@

test: deps build
	node scripts/run-tests.mjs unit bpf e2e
	$(MAKE) conformance

test-unit: build
	node scripts/run-tests.mjs unit
test-bpf: build
	node scripts/run-tests.mjs bpf
test-e2e: build
	node scripts/run-tests.mjs e2e

# Differential conformance against real ufw; fails on any difference that
# conformance/known-differences.json does not document.
conformance: build
	SHARED=$(SHARED) node scripts/conformance.mjs fwdiff clidiff
	$(MAKE) netpol

# Kubernetes NetworkPolicy truth tables in a `difw lab`. The shared netpol.py cannot run past
# its first multi-step case in one process (it keeps the probe processes it killed when it
# rebuilds the lab), so scripts/netpol-each.py runs the unmodified oracle once per case.
netpol: build
	python3 scripts/netpol-each.py $(SHARED)/conformance/k8s-netpol-public.json --difw bin/difw

demo: deps build
	bash scripts/demo.sh

# Cost decomposition for make bench (bench/lab.ts): the identity programs built with their work
# cut at one point, loaded by labs through DIFW_BPF_DIR. floor: the hooks fire and TC parses,
# nothing more; stamp: floor plus the sockops claim stamping. Never loaded outside the benchmark.
COST_OBJS := $(BUILD)/cost/floor/tc_pod.bpf.o $(BUILD)/cost/floor/sockops_claim.bpf.o \
             $(BUILD)/cost/stamp/tc_pod.bpf.o $(BUILD)/cost/stamp/sockops_claim.bpf.o
cost-objs: $(COST_OBJS)
$(BUILD)/cost/floor/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(BPF_CC) -DDIFW_COST_PARSE_ONLY -DDIFW_COST_NO_STAMP -c $< -o $@
$(BUILD)/cost/stamp/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(BPF_CC) -DDIFW_COST_PARSE_ONLY -c $< -o $@

bench: deps build cost-objs
	node dist/bench/main.js

clean:
	rm -rf $(BUILD) dist
