# FTM in Go. `make demo` and `make test` are the two set-up commands; both need
# only Go installed.
GO        ?= go
PKGS      ?= ./...
# the version ftmctl and the nodes report: the nearest release tag (vX.Y.Z, see
# docs/ftmctl.md, "Versions"), commits since it and -dirty; a bare commit before any tag
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION) -X github.com/ftm-in-go/ftm/node.version=$(VERSION)
TESTFLAGS ?= -race -count=1 -timeout 9m

.PHONY: all build test demo bench compare soak soak-loop lint fuzz clean tmux

all: build

## build: compile every package, and into ./bin ftmctl and the default node binary
## ftmnode that `ftmctl pair up` starts (found next to ftmctl)
build:
	$(GO) build $(PKGS)
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ftmctl ./ftmctl
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ftmnode ./examples/ftmnode

## test: vet, then every test with the race detector (kept under ~10 minutes on 2 cores)
test: tmux
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

## demo: two node processes exchange port messages and one is killed (kernel);
## then the prime computation survives the SIGKILL of its node (stable pair)
demo:
	$(GO) run ./examples/kerneldemo
	@echo
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ftmctl ./ftmctl
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ftmnode ./examples/ftmnode
	$(GO) run ./examples/failover -ftmctl bin/ftmctl

## bench: every benchmark, each reporting its ratio to a same-run baseline
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $${BENCHTIME:-1s} $(PKGS)

## compare: the two recovery modes side by side (docs/benchmarks.md, "Publishing against
## checkpointing"): the same client loop on a published task and on a checkpointed
## reliable server in a pair of real node processes, then a SIGKILL; and the in-process
## Publishing figures. Not part of `make test`.
compare:
	$(GO) test -count=$${COUNT:-3} -run '^$$' -bench 'CompareModes' -benchtime 1x ./ftmctl/
	$(GO) test -count=1 -run '^$$' -bench 'PublishedSend|Replay|TakeoverRecovery' -benchtime 1s ./publish/

## soak: long randomized, crash and kill-loop runs (FTM_SOAK=1 raises iteration counts),
## then the pair kill loop: SOAK_RUNS (default 200) fresh pairs running the sieve, killed
## with SIGKILL at random moments, during checkpoints (both sides), during a takeover,
## during re-protection, a second time after re-protection, and cut by a partition; and,
## with the witness, a client loop of durable kv updates under kills and isolations of
## either node (ftmctl partition --isolate). Every run must end with the right prime, every
## acknowledged update present once, the task completed once; the last line counts wrong,
## lost and done-twice runs (examples/failover/soak*.go). SOAK_SEED picks the random
## moments, SOAK_SCENARIOS all | pair | group | names; `make soak-loop` runs the loop alone.
soak:
	FTM_SOAK=1 $(GO) test -race -count=1 -timeout 120m $(PKGS)
	$(MAKE) soak-loop

soak-loop:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ftmctl ./ftmctl
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ftmnode ./examples/ftmnode
	$(GO) run ./examples/failover -ftmctl bin/ftmctl -soak $${SOAK_RUNS:-200} -seed $${SOAK_SEED:-0} \
	  -soak-scenarios $${SOAK_SCENARIOS:-all}

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run each fuzz target for FUZZTIME (default 30s)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime $${FUZZTIME:-30s} ./kernel/link/
	$(GO) test -run '^$$' -fuzz FuzzNetmsgFrame -fuzztime $${FUZZTIME:-30s} ./kernel/
	$(GO) test -run '^$$' -fuzz FuzzAssembler -fuzztime $${FUZZTIME:-30s} ./stm/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $${FUZZTIME:-30s} ./servers/
	$(GO) test -run '^$$' -fuzz FuzzWrite -fuzztime $${FUZZTIME:-30s} ./devices/screen/
	$(GO) test -run '^$$' -fuzz FuzzInput -fuzztime $${FUZZTIME:-30s} ./examples/editor/emacs/

## tmux: the editor's end-to-end tests drive a real terminal through tmux; install it
## when missing and possible (Debian), otherwise those tests skip and say why
tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -qq tmux >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq tmux >/dev/null 2>&1; }; \
	  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then sudo -n apt-get install -y -qq tmux >/dev/null 2>&1; fi; \
	  command -v tmux >/dev/null 2>&1 || echo "tmux not installed: the editor's terminal tests will skip"; }

clean:
	rm -rf bin
