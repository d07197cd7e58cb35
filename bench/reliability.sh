#!/usr/bin/env bash
# The figures of bench/RELIABILITY.md, measured again: configurations fuzzed, corrupted files,
# extreme sizes, kill -9 points, full-disk points, concurrent writers. (Sanitizer findings and
# bytes leaked come from `make test-asan`.) Run from the repository root after `make`:
#   bash bench/reliability.sh            (about 10 minutes on 2 cores)
set -u
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export KELVIN=$PWD/bin/kelvin PY=/usr/bin/python3 PYTHONPATH=$PWD/tests/tools
export OUT=$PWD/tests/out/reliability MPIRUN="mpirun --oversubscribe"
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '%-34s %s\n' "$1" "$2"; }

l=$(build/tests/unit/test_config_fuzz 2>&1)
say "configs fuzzed (C, mutated)" "$(grep -o '[0-9]* mutated configurations handled without a crash' <<<"$l"); $(grep -o '[0-9]* still valid, [0-9]* refused' <<<"$l")"
l=$(bash tests/cli/test_cli.sh 2>&1)
say "bad-input CLI checks" "$(grep -c '^ok' <<<"$l") ok, $(grep -c '^FAIL' <<<"$l") failed"
l=$(build/tests/unit/test_h5_fuzz 2>&1)
say "corrupted files (old format, C)" "$(grep -o '[0-9]* corrupted copies[^,]*' <<<"$l" | head -1); $(grep -o 'HDF5 library crashes caught by the probe: [0-9]*' <<<"$l")"
l=$(KV_CORRUPT_N=150 /usr/bin/python3 tests/reliability/test_corrupt.py 2>&1)
say "corrupted files (checksummed)" "$(grep '^# corruption totals' <<<"$l" | sed 's/^# corruption totals: //')"
say "" "$(grep -c '^FAIL' <<<"$l") failed checks"
l=$(/usr/bin/python3 tests/reliability/test_sizes.py 2>&1)
say "extreme sizes" "$(grep -o '[0-9]* extreme values tried' <<<"$l"); $(grep -c '^FAIL' <<<"$l") failed checks"
l=$(/usr/bin/python3 bench/killpoints.py 12 2>&1)
say "kill -9 points" "$(grep '^# kill -9 points' <<<"$l" | sed 's/^# kill -9 points: //')"
grep '^FAIL' <<<"$l" | sed 's/^/    /'
l=$(/usr/bin/python3 tests/reliability/test_diskfull.py 2>&1)
say "disk-full points" "$(grep -c '^ok' <<<"$l") ok, $(grep -c '^FAIL' <<<"$l") failed$(grep -q '^skip' <<<"$l" && echo ' (skipped: no tmpfs)')"
l=$(bash tests/sweep/test_sweep_lock.sh 2>&1)
say "concurrent-writer attempts" "$(grep -c '^ok.*\(refused\|not run twice\)' <<<"$l") refused of $(grep -c '^ok\|^FAIL' <<<"$l") checks, $(grep -c '^FAIL' <<<"$l") failed"
