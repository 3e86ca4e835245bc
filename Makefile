# fleetmerge - build, test, run.  `make run` and `make check` are the two entry points.
CC ?= mpicc
ifeq ($(origin CC),default)
CC := mpicc
endif
PKGS ?= hdf5-openmpi scalapack-openmpi lapacke openblas yaml-0.1 libpng zlib
# MuJoCo 2.2.2 (tool-use benchmark) and OSMesa (offscreen rendering) ship no pkg-config file.
MUJOCO_LIBS ?= -lmujoco -lOSMesa
# Asked once per make invocation. `run`, `check` and `asan` install the packages first and then re-enter make,
# so these are evaluated after `deps` on a fresh machine (a parse-time value from before the install would lack
# the HDF5 include path). On a site without apt, point PKG_CONFIG_PATH at the modules or set PKG_CFLAGS/PKG_LIBS.
ifeq ($(origin PKG_CFLAGS),undefined)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
endif
ifeq ($(origin PKG_LIBS),undefined)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
endif
PKG_MISSING := $(if $(strip $(PKG_LIBS)),,$(shell pkg-config --print-errors --exists $(PKGS) 2>&1 | head -3))
# Stops a compile (not the parse) when the libraries are not found, with the reason and the remedy.
need_pkgs = $(if $(strip $(PKG_LIBS)$(EXTRA_LIBS)),,$(error pkg-config cannot find the libraries ($(PKGS)):   $(or $(PKG_MISSING),pkg-config not installed). Run `make deps` (Debian, root) or set PKG_CONFIG_PATH   / PKG_CFLAGS and PKG_LIBS (docs/cluster.md, "1. Build with the site's modules")))
# -fno-math-errno, -fno-trapping-math and the dynamic vectorizer cost model let GCC vectorize the elementwise
# loops of nn/ (Adam, activations); measured 1.5x faster MLP training (bench/RESULTS.md).
CFLAGS ?= -O2 -g -fno-math-errno -fno-trapping-math -fvect-cost-model=dynamic
CFLAGS += -std=c11 -Wall -Wextra -Werror -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS += $(PKG_LIBS) $(MUJOCO_LIBS) -lm $(EXTRA_LIBS)
BUILD ?= build
NP ?= 4
PYTHON ?= /usr/bin/python3

LIB_SRC := $(filter-out src/cli/main.c,$(wildcard src/*/*.c src/*/*/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
MPI_TEST_SRC := $(wildcard tests/mpi/*.c)
MPI_TEST_BIN := $(MPI_TEST_SRC:tests/mpi/%.c=$(BUILD)/tests/mpi/%)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
HDRS := $(wildcard src/*/*.h src/*/*/*.h) tests/tap.h $(wildcard tests/fixtures/*.h)

export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1
export OPENBLAS_NUM_THREADS := 1

.PHONY: all deps run check test unit asan asan-test fuzz fuzz-build bench clean
all: $(BUILD)/fleet $(TEST_BIN) $(MPI_TEST_BIN)

# Installs every Debian package the build, the runs and the tests need (Slurm, munge, clang's libFuzzer
# included); does nothing when all are there. Needs root + apt; elsewhere it only lists what is missing.
deps:
	@./scripts/deps.sh

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	$(need_pkgs)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The binary's version (fm_version, recorded in results and checkpoints): core/version.o is rebuilt
# when `git describe` changes (the stamp file holds the last one).
FM_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(FM_VERSION)' | cmp -s - $@ || echo '$(FM_VERSION)' > $@
$(BUILD)/obj/core/version.o: $(BUILD)/version.stamp
$(BUILD)/obj/core/version.o: CFLAGS += -DFM_VERSION='"$(FM_VERSION)"'
.PHONY: FORCE
FORCE:

$(BUILD)/libfleet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fleet: $(BUILD)/obj/cli/main.o $(BUILD)/libfleet.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libfleet.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libfleet.a $(LDLIBS)

$(BUILD)/tests/mpi/%: tests/mpi/%.c $(BUILD)/libfleet.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libfleet.a $(LDLIBS)

# The README's two commands. Each installs what is missing first, then re-enters make so that the
# pkg-config flags are read after the install (one invocation works on a fresh machine).
# The default experiment: Appendix G linear control on NP robots (MPI ranks).
run: deps
	@$(MAKE) --no-print-directory all
	./pipelines/linear_control.sh

check: deps
	@$(MAKE) --no-print-directory test

unit: all
	prove $(TEST_BIN)

# The whole suite without the install step: unit, MPI, end-to-end, a short run of each fuzzer, Slurm.
SLURM_TESTS := $(wildcard tests/slurm/*.sh)
test: all fuzz-build
	FLEET=$(BUILD)/fleet prove $(TEST_BIN) $(wildcard tests/mpi/*.sh tests/e2e/*.sh tests/fuzz/*.sh) $(SLURM_TESTS)

# AddressSanitizer + UBSan build (in build-asan/): the unit tests and MPI end-to-end runs under it.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan: deps
	@$(MAKE) --no-print-directory asan-test
asan-test:
	$(MAKE) BUILD=build-asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	$(ASAN_ENV) prove $(TEST_SRC:tests/unit/%.c=build-asan/tests/%)
	$(ASAN_ENV) FLEET=build-asan/fleet prove tests/asan/mpi_e2e.sh

# Fuzzing (clang's libFuzzer + ASan + UBSan, build-fuzz/): harnesses for the config loader, the
# demonstrations reader and the checkpoint reader; seed corpora under tests/fuzz/corpus/.
# `make check` runs each for a few seconds; `make fuzz FUZZ_SECONDS=3600` is the long run.
FUZZ_HARNESSES := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_CFLAGS = -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -Isrc $(PKG_CFLAGS) $(shell mpicc --showme:compile 2>/dev/null) $(EXTRA_CFLAGS)
FUZZ_LIBS = $(PKG_LIBS) $(shell mpicc --showme:link 2>/dev/null) $(MUJOCO_LIBS) -lm $(EXTRA_LIBS)
FUZZ_OBJ := $(LIB_SRC:src/%.c=build-fuzz/obj/%.o)
build-fuzz/obj/%.o: src/%.c $(HDRS)
	$(need_pkgs)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/libfleet.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
# The harnesses themselves are built warning-free (-Werror); the library objects take the flags above.
build-fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h build-fuzz/libfleet.a $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer -o $@ $< build-fuzz/libfleet.a $(FUZZ_LIBS)
fuzz-build: $(FUZZ_HARNESSES:%=build-fuzz/%)
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	./tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libfleet.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libfleet.a $(LDLIBS)

# The benchmarks' references (PyTorch, SciPy) are installed first, like every other dependency.
bench: deps
	@./scripts/deps.sh bench
	$(MAKE) all $(BENCH_BIN)
	./bench/run.sh

clean:
	rm -rf build build-asan build-fuzz
