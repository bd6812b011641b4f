# vigil — build, run and test. `make run` and `make test` are the two
# commands a fresh machine needs; both install what they need first.

SHELL     := /bin/bash
GO        ?= go
BIN       := bin/vigil
# Debian packages the build and the tests need.
DEB_PKGS  := pkg-config libvirt-dev protobuf-compiler python3-gnocchiclient python3-aodhclient snmpd openipmi ipmitool libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
# libvirt's cgo binding is compiled in when the machine has libvirt-dev.
TAGS      := $(shell pkg-config --exists libvirt 2>/dev/null && echo libvirt)
GOFLAGS_T := $(if $(TAGS),-tags $(TAGS),)
STATICCHECK_VERSION := v0.8.2
PROTOC_GEN_GO_VERSION := v1.36.12
GOBIN     := $(shell $(GO) env GOPATH)/bin

.PHONY: all deps services build run test test-short bench lint fuzz generate grafana clean

all: build

## deps: install the Debian packages the build and tests need (as root), or say how.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			(apt-get install -y --no-install-recommends $$missing || (apt-get update && apt-get install -y --no-install-recommends $$missing)) >/dev/null; \
		else \
			echo "missing Debian packages:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

## services: start the machine's NATS, PostgreSQL and RabbitMQ when they are
## installed but not answering; one that is not installed is left for the
## tests to report.
services:
	@up() { (exec 3<>"/dev/tcp/127.0.0.1/$$1") 2>/dev/null; }; \
	wait_up() { for i in $$(seq 1 60); do up $$1 && return 0; sleep 0.5; done; echo "$$2 did not come up on port $$1" >&2; }; \
	if ! up 4222 && [ -x /usr/sbin/nats-server ]; then \
		echo "starting NATS"; mkdir -p /var/lib/nats-server; \
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
			-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log; \
		wait_up 4222 NATS; \
	fi; \
	if ! up 5432 && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then \
		echo "starting PostgreSQL"; pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
		wait_up 5432 PostgreSQL; \
	fi; \
	if ! up 5672 && command -v rabbitmq-server >/dev/null 2>&1; then \
		echo "starting RabbitMQ"; rabbitmq-server -detached; wait_up 5672 RabbitMQ; \
	fi

build:
	$(GO) build $(GOFLAGS_T) -o $(BIN) ./cmd/vigil

## run: build and start `vigil all` on the embedded default (API on 127.0.0.1:8041).
run: build
	./$(BIN) all --data-dir ./data

## test: the whole suite, with the race detector, and the Grafana
## frontend's checks (npm ci from the lock file, tsc, eslint, jest, build).
test: deps services
	$(GO) vet $(GOFLAGS_T) ./...
	$(GO) test $(GOFLAGS_T) -race -timeout 20m ./...
	bash grafana/frontend/check.sh

## grafana: the plugin folder and zip under dist/, to copy into Grafana's
## plugins directory.
grafana:
	GO=$(GO) bash grafana/build.sh

test-short:
	$(GO) test $(GOFLAGS_T) -short ./...

## bench: the benchmark suite; prints measures/s, bytes/point, latencies, RSS.
bench: deps services
	$(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/...
	$(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchmem -timeout 30m $$($(GO) list ./... | grep -v /bench)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet $(GOFLAGS_T) ./...
	@test -x $(GOBIN)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck $(GOFLAGS_T) ./...

## fuzz: a short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$t"; \
			$(GO) test $(GOFLAGS_T) -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg || exit 1; \
		done; \
	done

## generate: regenerate the protobuf code and generated references.
generate:
	@test -x $(GOBIN)/protoc-gen-go || $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	cd pipeline/wire && PATH="$(GOBIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative batch.proto
	$(GO) generate ./...

clean:
	rm -rf bin dist
