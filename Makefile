# svkit — a thin front end over cargo and tools/*.sh.
#
#   make            build the release binary (target/release/svkit)
#   make demo       the seed sample as a container under /init (tools/container.sh)
#   make demo-scandir   a scan directory of three services, driven with svkit's tools
#   make test       every check and test: fmt, clippy, the release tarball, unit and
#                   integration tests (one boots the tarball in a busybox-only root)
#   make dist       dist/svkit-VERSION-ARCH.tar.gz (+ .sha256): static, reproducible
#   make bench      svkit against s6, runit and daemontools (bench/results/latest.*)
#   make soak       SOAK_SERVICES services (500) for SOAK_SECONDS (600) of random restarts,
#                   signals and commands: memory, zombies, lost log lines (tools/soak.sh;
#                   not part of make test; the latest result is in docs/reliability.md)
#   make fuzz       each fuzz target under libFuzzer for FUZZ_SECONDS (needs nightly and
#                   cargo-fuzz; make test runs the same targets briefly on stable)
#   make install DESTDIR=<dir>   lay out <dir>/command/... and <dir>/usr/bin/...
#   make clean

CARGO  ?= cargo
BIN    := target/release/svkit

.PHONY: all build demo demo-scandir test lint unit dist bench soak fuzz install clean

all: build

build:
	$(CARGO) build --release --locked

$(BIN): build

demo: build
	sh tools/demo.sh $(BIN)

demo-scandir: build
	sh tools/demo-scandir.sh $(BIN)

lint:
	sh tools/lint.sh

# nextest runs each test in its own process (no fork from a multi-threaded test
# binary, so no ETXTBSY on freshly written run scripts); cargo test also passes.
unit:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --locked --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --locked; \
	fi

dist:
	sh tools/dist.sh dist

test: lint dist unit

# The benchmark measures the static binary, the one that ships (make dist),
# when the musl target is installed; else the glibc build.
MUSL := x86_64-unknown-linux-musl
bench: build
	sh tools/deps.sh --bench
	@bin=$(BIN); \
	if sh tools/dist.sh dist && [ -x target/$(MUSL)/release/svkit ]; then \
	  bin=target/$(MUSL)/release/svkit; \
	fi; \
	$(CARGO) build --release --locked -p svkit-bench && \
	target/release/svkit-bench --svkit $$bin --out bench/results

SOAK_SERVICES ?= 500
SOAK_SECONDS  ?= 600
soak: build
	SOAK_SERVICES=$(SOAK_SERVICES) SOAK_SECONDS=$(SOAK_SECONDS) sh tools/soak.sh $(BIN)

FUZZ_SECONDS ?= 300
FUZZ_TARGETS := status envdir machine execline log_script rc_source
fuzz:
	sh tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

install: build
	@if [ -z "$(DESTDIR)" ]; then \
	  echo "make install needs DESTDIR=<dir> (DESTDIR=/ installs into the root)" >&2; exit 100; \
	fi
	sh tools/install.sh $(BIN) $(DESTDIR)

clean:
	$(CARGO) clean
