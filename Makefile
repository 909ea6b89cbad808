# Makefile - a thin wrapper over Meson for the two commands of the README.
#   make demo   install dependencies, build (build/), run scripts/demo
#   make test   install dependencies, build with the default options (build-default/,
#               what "building by hand" in the README does), with sanitizers
#               (build-test/) and libFuzzer targets (build-fuzz/), all three with
#               -Dwerror=true; build examples/ against build-default's installed
#               library (build-example/, pkg-config only); run scripts/check-house
#               (on build-default/'s libcertkeep.so), then scripts/run-tests
#   make bench  release build, then certkeep against certbot/lego/uacme (bench/peers;
#               BENCH_ARGS="--count 5" to shorten); not part of make test.
#               bench/store (by hand) times the store at 100,000 certificates
#   make build  release build only;  make clean  remove the build directories
# Meson does the real work; nothing here decides how the code is built.

MESON ?= meson
NINJA ?= ninja
comma := ,
# Every build `make test` (and so CI) makes treats a warning as an error; the
# release build (`make build`, and meson's default) does not, so a newer
# compiler's new warning never breaks a user's build.
WERROR := -Dwerror=true

.PHONY: all build demo test bench deps build-default build-test build-fuzz build-example check-house clean

all: build

deps:
	./scripts/install-deps

# setup_or_reconfigure DIR ARGS: configure DIR, or reconfigure it with ARGS
# when it already exists (so changed options and meson.build files apply).
define setup_or_reconfigure
	if [ -f $(1)/build.ninja ]; then \
		$(MESON) setup --reconfigure $(1) $(2); \
	else \
		$(MESON) setup $(1) $(2); \
	fi
endef

build:
	$(call setup_or_reconfigure,build,-Dbuildtype=release -Dtests=false -Dwerror=false)
	$(NINJA) -C build

demo: deps build
	./scripts/demo

# The default configuration, as a user building by hand gets it (plus
# -Dwerror=true): it must build without a warning even though no test runs
# from it.
build-default:
	$(call setup_or_reconfigure,build-default,$(WERROR))
	$(NINJA) -C build-default

build-test:
	$(call setup_or_reconfigure,build-test,-Db_sanitize=address$(comma)undefined \
		-Db_lundef=false -Dfault_injection=true -Dbuildtype=debug $(WERROR))
	$(NINJA) -C build-test

build-fuzz:
	if [ -f build-fuzz/build.ninja ]; then \
		CC=clang $(MESON) setup --reconfigure build-fuzz -Dfuzz=true -Dtests=false \
			-Db_lundef=false $(WERROR); \
	else \
		CC=clang $(MESON) setup build-fuzz -Dfuzz=true -Dtests=false -Db_lundef=false $(WERROR); \
	fi
	$(NINJA) -C build-fuzz

# The example (examples/issue_export.c) built as an embedding program builds
# it: against build-default's library INSTALLED into build-example/root
# (meson install --destdir), through `pkg-config libcertkeep` only; no
# source-tree path is on its command line; every installed header must
# compile alone.  tests/integration/test_example.py runs the example against
# Pebble.
EXAMPLE_ROOT := $(CURDIR)/build-example/root
build-example: build-default
	rm -rf build-example
	$(MESON) install -C build-default --no-rebuild --destdir $(EXAMPLE_ROOT)
	pc=$$(dirname "$$(find $(EXAMPLE_ROOT) -name libcertkeep.pc)") && \
	flags=$$(PKG_CONFIG_PATH=$$pc PKG_CONFIG_SYSROOT_DIR=$(EXAMPLE_ROOT) \
		pkg-config --cflags --libs libcertkeep) && \
	$(CC) -std=c11 -Wall -Wextra -Werror -o build-example/issue_export \
		examples/issue_export.c $$flags -Wl,-rpath,$$(dirname "$$pc")
	# Each installed header compiles on its own, as C11 and as C++.
	inc=$$(find $(EXAMPLE_ROOT) -name certkeep.h -printf '%h') && \
	for h in $$(cd $$inc && find certkeep.h certkeep -name '*.h'); do \
		printf '#include <%s>\ntypedef int ck_alone;\n' $$h | \
			$(CC) -std=c11 -pedantic -Wall -Wextra -Werror -I$$inc -fsyntax-only -x c - && \
		printf '#include <%s>\n' $$h | \
			$(CXX) -Wall -Wextra -Werror -I$$inc -fsyntax-only -x c++ - || exit 1; \
	done

# The house rules (scripts/check-house): measured on the sources and on
# build-default/'s libcertkeep.so (its exported symbols).  make test runs
# it through scripts/run-tests (one test, "house"), so its verdict is
# counted in the last line like any other test.
check-house: build-default
	./scripts/check-house --lib build-default/libcertkeep.so

test: deps build-default build-example build-test build-fuzz
	./scripts/run-tests

bench: build
	./bench/peers $(BENCH_ARGS)

clean:
	rm -rf build build-default build-test build-fuzz build-example .demo
