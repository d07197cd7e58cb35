# kelvin — one build for the library, the CLI, tests and benchmarks.
#
#   make            build bin/kelvin (and the test programs)
#   make run        install missing Debian packages, build, run the quickstart example
#   make test       install missing packages, build, run every test; ends "N passed, N failed"
#   make check-mpi  only the MPI tests (1, 2 and 4 ranks)
#   make bench      benchmarks (bench/*.sh), figures to compare with bench/RESULTS.md
#   make install PREFIX=/usr/local
#   make deps       install missing Debian packages only
#   make clean

CC       = mpicc
PREFIX  ?= /usr/local
PKGS     = hdf5-openmpi inih gsl fftw3 lapacke openblas libpng
OPTFLAGS ?= -O3 -march=native
CFLAGS  ?= $(OPTFLAGS)
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -I. -D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) -MMD -MP $(CPPFLAGS) $(PKG_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL's own CBLAS is left out on purpose: OpenBLAS provides the CBLAS symbols, fast.
LDLIBS  += -fopenmp -lhdf5_hl $(shell pkg-config --libs hdf5-openmpi inih fftw3 lapacke openblas libpng 2>/dev/null) \
           -lgsl -lfftw3_mpi -lm

# Open MPI refuses to run as root unless told; only our test targets say so, never users' shells.
MPI_TEST_ENV = OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

BUILD   = build
LIB_SRC = $(wildcard core/*.c io/*.c numerics/*.c solvers/*.c solvers/*/*.c surrogates/*.c drivers/*.c)
CLI_SRC = $(wildcard cli/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)

# Named EBM scenarios (ebm.scenario = ssp245) are looked up here unless ebm.scenario_dir is set.
$(BUILD)/solvers/ebm/ebm_params.o: CPPFLAGS += -DKV_SCENARIO_DIR='"$(CURDIR)/configs/scenarios"'
# The GP kernel loops run on every core (OpenMP, from GCC); BLAS calls stay outside them.
$(BUILD)/surrogates/gp.o: CFLAGS += -fopenmp
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
MPI_SRC  = $(wildcard tests/mpi/test_*.c)
TEST_BIN = $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%) $(MPI_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN = $(BUILD)/bench/stream

.PHONY: all run test test-slurm check-mpi bench install clean deps tests

all: bin/kelvin tests $(BENCH_BIN)

tests: $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Made afresh: an archive updated in place keeps the objects of files that were removed.
$(BUILD)/libkelvin.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

bin/kelvin: $(CLI_OBJ) $(BUILD)/libkelvin.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libkelvin.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libkelvin.a tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libkelvin.a $(LDLIBS)

$(BUILD)/bench/stream: bench/stream.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

deps:
	bash scripts/install-deps.sh

run: deps
	$(MAKE) all
	$(MPI_TEST_ENV) bash scripts/quickstart.sh

test: deps
	$(MAKE) all
	$(MPI_TEST_ENV) bash tests/run.sh

# A throwaway single-node Slurm runs a generated sweep job array (also part of make test).
test-slurm: deps
	$(MAKE) all
	$(MPI_TEST_ENV) bash tests/slurm/test_slurm.sh

check-mpi: all
	$(MPI_TEST_ENV) bash tests/run.sh mpi

bench: all
	$(MPI_TEST_ENV) bash bench/heat_explicit.sh
	$(MPI_TEST_ENV) bash bench/heat_implicit.sh
	$(MPI_TEST_ENV) bash bench/ebm.sh
	$(MPI_TEST_ENV) bash bench/sweep.sh

install: bin/kelvin
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 bin/kelvin $(DESTDIR)$(PREFIX)/bin/kelvin

clean:
	rm -rf $(BUILD) bin tests/out

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d)
