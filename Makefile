# fleetmerge - build, test, run.  `make run` and `make check` are the two entry points.
CC ?= mpicc
ifeq ($(origin CC),default)
CC := mpicc
endif
PKGS ?= hdf5-openmpi scalapack-openmpi lapacke openblas yaml-0.1 libpng
# MuJoCo 2.2.2 (tool-use benchmark) and OSMesa (offscreen rendering) ship no pkg-config file.
MUJOCO_LIBS ?= -lmujoco -lOSMesa
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# -fno-math-errno, -fno-trapping-math and the dynamic vectorizer cost model let GCC vectorize the elementwise
# loops of nn/ (Adam, activations); measured 1.5x faster MLP training (bench/RESULTS.md).
CFLAGS ?= -O2 -g -fno-math-errno -fno-trapping-math -fvect-cost-model=dynamic
CFLAGS += -std=c11 -Wall -Wextra -Werror -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS += $(PKG_LIBS) $(MUJOCO_LIBS) -lm $(EXTRA_LIBS)
BUILD ?= build
NP ?= 4
PYTHON ?= /usr/bin/python3

LIB_SRC := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
MPI_TEST_SRC := $(wildcard tests/mpi/*.c)
MPI_TEST_BIN := $(MPI_TEST_SRC:tests/mpi/%.c=$(BUILD)/tests/mpi/%)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
HDRS := $(wildcard src/*/*.h) tests/tap.h

export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1
export OPENBLAS_NUM_THREADS := 1

.PHONY: all deps run check unit asan bench clean
all: $(BUILD)/fleet $(TEST_BIN) $(MPI_TEST_BIN)

deps:
	@./scripts/deps.sh

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

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

# The default experiment: Appendix G linear control on NP robots (MPI ranks).
run: deps all
	./pipelines/linear_control.sh

unit: all
	prove $(TEST_BIN)

SLURM_TESTS := $(wildcard tests/slurm/*.sh)
check: deps all
	FLEET=$(BUILD)/fleet prove $(TEST_BIN) tests/mpi/*.sh tests/e2e/*.sh $(SLURM_TESTS)

# AddressSanitizer + UBSan build of the library and the unit tests (in build-asan/).
asan:
	$(MAKE) BUILD=build-asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  prove $(TEST_SRC:tests/unit/%.c=build-asan/tests/%)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libfleet.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libfleet.a $(LDLIBS)

bench: all $(BENCH_BIN)
	./bench/run.sh

clean:
	rm -rf build build-asan
