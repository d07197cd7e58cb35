# kelvin — one build for the library, the CLI, tests and benchmarks.
#
#   make            build bin/kelvin (and the test programs)
#   make run        install missing Debian packages, build, run the quickstart example
#   make test       install missing packages, build, run every test; ends "N passed, N failed"
#   make check-mpi  only the MPI tests (1, 2 and 4 ranks)
#   make test-asan  ASan + UBSan build (build-asan/) over the C tests, CLI runs and the bad-input and
#                   corrupt-file corpora, then valgrind on single-rank commands (.ci/run runs it)
#   make bench      benchmarks (bench/*.sh), figures to compare with bench/RESULTS.md
#   make install PREFIX=/usr/local   bin, lib (static + shared), include/kelvin, kelvin.pc, share/kelvin,
#                                    man page, bash completion; make uninstall PREFIX=... removes them
#   make OPTFLAGS="-O3 -march=x86-64-v2"   a binary that runs on any node of a mixed cluster
#   make deps       install missing Debian packages only
#   make clean

CC       = mpicc
PREFIX  ?= /usr/local
PKGS     = hdf5-openmpi netcdf-mpi inih gsl fftw3 lapacke openblas libpng nlopt
OPTFLAGS ?= -O3 -march=native
CFLAGS  ?= $(OPTFLAGS)
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -I. -D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(PIC) -MMD -MP $(CPPFLAGS) $(PKG_CFLAGS)
# Debian's netcdf-mpi.pc names /usr/include; the MPI flavour's header lives under its prefix.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
             -I$(shell pkg-config --variable=prefix netcdf-mpi 2>/dev/null)/include
# GSL's own CBLAS is left out on purpose: OpenBLAS provides the CBLAS symbols, fast.
LDLIBS  += -fopenmp -lhdf5_hl $(shell pkg-config --libs hdf5-openmpi netcdf-mpi inih fftw3 lapacke openblas libpng nlopt 2>/dev/null) \
           -lgsl -lfftw3_mpi -lm

# Open MPI refuses to run as root unless told; only our test targets say so, never users' shells.
MPI_TEST_ENV = OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

BUILD   = build
BIN    ?= bin
LIB_SRC = $(wildcard core/*.c io/*.c numerics/*.c solvers/*.c solvers/*/*.c surrogates/*.c drivers/*.c)
CLI_SRC = $(wildcard cli/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
# The library's objects serve the static and the shared library alike.
$(LIB_OBJ): PIC = -fPIC
VERSION := $(shell sed -n 's/.*KV_VERSION "\(.*\)"/\1/p' core/version.h)
SONAME   = libkelvin.so.0
LIBDIR  ?= $(PREFIX)/lib
# The public C interface (DESIGN: model, surrogate, gp, pod, h5 field I/O, status) and what those
# headers include; installed under include/kelvin/ with their includes made <kelvin/...>.
PUBLIC_H = core/status.h core/version.h core/field.h core/grid.h io/config.h io/dataset.h io/h5.h \
           io/layout.h io/ncvar.h numerics/pod.h solvers/model.h surrogates/gp.h surrogates/surrogate.h

# The GP kernel loops run on every core (OpenMP, from GCC); BLAS calls stay outside them.
$(BUILD)/surrogates/gp.o: CFLAGS += -fopenmp
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
MPI_SRC  = $(wildcard tests/mpi/test_*.c)
TEST_BIN = $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%) $(MPI_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN = $(BUILD)/bench/stream $(BUILD)/bench/empty

.PHONY: all run test test-slurm test-asan asan-build check-mpi bench install uninstall clean deps tests

all: $(BIN)/kelvin $(BUILD)/$(SONAME) tests $(BENCH_BIN)

tests: $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Made afresh: an archive updated in place keeps the objects of files that were removed.
$(BUILD)/libkelvin.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/$(SONAME): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/kelvin: $(CLI_OBJ) $(BUILD)/libkelvin.a
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libkelvin.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libkelvin.a tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libkelvin.a $(LDLIBS)

$(BUILD)/bench/empty: bench/empty.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -Wl,--no-as-needed $(LDLIBS)

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

# Sanitizers (issue 19): the library, the CLI and the C tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (any finding stops the process) in build-asan/; tests/sanitize/ runs
# them and attributes every report (kelvin's code fails it; HDF5's own, inside a probe process, is
# counted apart), then valgrind over single-rank commands of a plain -O1 -g build (build-vg/:
# valgrind does not know every instruction -march=native may choose).
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
test-asan: deps
	$(MAKE) all
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPTFLAGS="$(ASAN_FLAGS)" asan-build
	$(MPI_TEST_ENV) bash tests/sanitize/asan.sh
	$(MAKE) BUILD=build-vg BIN=build-vg/bin OPTFLAGS="-O1 -g" build-vg/bin/kelvin
	$(MPI_TEST_ENV) bash tests/sanitize/valgrind.sh

asan-build: $(BIN)/kelvin tests

check-mpi: all
	$(MPI_TEST_ENV) bash tests/run.sh mpi

bench: all
	$(MPI_TEST_ENV) bash bench/heat_explicit.sh
	$(MPI_TEST_ENV) bash bench/heat_implicit.sh
	$(MPI_TEST_ENV) bash bench/ebm.sh
	$(MPI_TEST_ENV) bash bench/sweep.sh
	$(MPI_TEST_ENV) bash bench/startup.sh

install: bin/kelvin $(BUILD)/libkelvin.a $(BUILD)/$(SONAME)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/kelvin \
	  $(DESTDIR)$(PREFIX)/share/kelvin/configs/scenarios $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 bin/kelvin $(DESTDIR)$(PREFIX)/bin/kelvin
	install -m 644 $(BUILD)/libkelvin.a $(DESTDIR)$(LIBDIR)/libkelvin.a
	install -m 755 $(BUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libkelvin.so
	for h in $(PUBLIC_H); do install -d $(DESTDIR)$(PREFIX)/include/kelvin/$$(dirname $$h); \
	  sed 's|^#include "\(.*\)"|#include <kelvin/\1>|' $$h > $(DESTDIR)$(PREFIX)/include/kelvin/$$h; done
	install -m 644 share/kelvin.h $(DESTDIR)$(PREFIX)/include/kelvin/kelvin.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  share/kelvin.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kelvin.pc
	install -m 644 configs/*.ini $(DESTDIR)$(PREFIX)/share/kelvin/configs/
	install -m 644 configs/scenarios/*.csv $(DESTDIR)$(PREFIX)/share/kelvin/configs/scenarios/
	install -m 644 examples/*.c $(DESTDIR)$(PREFIX)/share/kelvin/
	install -m 644 share/kelvin.1 $(DESTDIR)$(PREFIX)/share/man/man1/kelvin.1
	install -m 644 share/kelvin.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/kelvin

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kelvin $(DESTDIR)$(LIBDIR)/libkelvin.a $(DESTDIR)$(LIBDIR)/$(SONAME) \
	  $(DESTDIR)$(LIBDIR)/libkelvin.so $(DESTDIR)$(LIBDIR)/pkgconfig/kelvin.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man1/kelvin.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/kelvin
	rm -rf $(DESTDIR)$(PREFIX)/include/kelvin $(DESTDIR)$(PREFIX)/share/kelvin

clean:
	rm -rf $(BUILD) build-asan build-vg bin tests/out

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d)
