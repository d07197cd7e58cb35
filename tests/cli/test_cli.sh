#!/usr/bin/env bash
# CLI behaviour: --help everywhere, exit codes (0 ok, 1 check failed, 2 usage/input, 3 runtime),
# error messages that name the file/line/key, the explicit stability limit, NaN handling that keeps
# the records written, refusal to overwrite, corrupt files reported without a crash.
set -u
: "${KELVIN:=bin/kelvin}" "${OUT:=tests/out}" "${MPIRUN:=mpirun --oversubscribe}"
dir="$OUT/cli"
rm -rf "$dir"
mkdir -p "$dir"
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

# expect STATUS PATTERN DESCRIPTION -- COMMAND...: exit status and a pattern in the output
expect() {
  local want=$1 pat=$2 what=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"; then
    ok "$what (exit $rc)"
  else
    bad "$what: exit $rc (want $want), output: $(head -c 400 <<<"$out")"
  fi
}

cat >"$dir/base.ini" <<INI
[run]
output = $dir/base.h5
t_end = 0.01
output_every = 10
[heat]
dims = 2
n = 16, 12
initial = sine(1, 1)
INI

expect 0 "usage: kelvin" "kelvin --help" -- "$KELVIN" --help
for c in run info compare; do
  expect 0 "usage: kelvin $c" "kelvin $c --help" -- "$KELVIN" "$c" --help
done
expect 0 "heat.bc_value.xlo" "kelvin run --keys lists every key" -- "$KELVIN" run --keys
expect 0 "ebm.noise_corr_km" "kelvin run --keys lists the ebm keys" -- "$KELVIN" run --keys
expect 2 "unknown command 'frobnicate'" "unknown command" -- "$KELVIN" frobnicate
expect 2 "missing CONFIG" "run without a config" -- "$KELVIN" run
expect 2 "cannot read config file 'nope.ini'" "missing config file" -- "$KELVIN" run nope.ini
mkfifo "$dir/fifo.ini"
expect 2 "a FIFO, not a regular file" "a FIFO as config is refused at once (not read forever)" -- \
  timeout 20 "$KELVIN" run "$dir/fifo.ini"
expect 2 "'$dir': a directory, not a regular file" "a directory as config is named as such" -- \
  "$KELVIN" run "$dir"
expect 0 "wrote .*base.h5" "a good run" -- "$KELVIN" run "$dir/base.ini"
expect 2 "heat.n = 3000002, 3000002, 1: .* need at least .* GB per rank" \
  "a grid no machine holds is refused by heat.n before any allocation" -- \
  "$KELVIN" run "$dir/base.ini" heat.dims=3 heat.n=3000002,3000002,1 "run.output=$dir/huge.h5"
expect 2 "did not finish in" "a file whose reading does not end is stopped by the bounded probe" -- \
  env KELVIN_PROBE_TIMEOUT=0.000001 "$KELVIN" info "$dir/base.h5"
expect 2 "heat.kappa = $dir/nosuch.h5:/k: cannot read" "a missing kappa file is named with its key" -- \
  "$KELVIN" run "$dir/base.ini" "heat.kappa=$dir/nosuch.h5:/k" "run.output=$dir/nk.h5"
expect 2 "KELVIN_MPI = 'sometimes': expected always or never" "a bad KELVIN_MPI is named" -- \
  env KELVIN_MPI=sometimes "$KELVIN" --version
expect 2 "KELVIN_PROBE_TIMEOUT = 'abc': expected a positive number" "a bad KELVIN_PROBE_TIMEOUT is named" -- \
  env KELVIN_PROBE_TIMEOUT=abc "$KELVIN" --version
printf '[run]\nmodel = ebm\noutput = %s/e1200.h5\nyear_start = 1200\nyear_end = 1201\n[ebm]\nnlat = 8\nnlon = 1\n' "$dir" >"$dir/e1200.ini"
out=$("$KELVIN" run "$dir/e1200.ini" 2>&1)
if grep -q "steps to the end of year 1201" <<<"$out" && ! grep -q "cfl 0\|t = -" <<<"$out"; then
  ok "the ebm start line says the year it runs to (no cfl 0, no negative day count)"
else
  bad "ebm start line: $(head -n 1 <<<"$out")"
fi
expect 2 "exists; set run.overwrite = true" "an existing output is not overwritten" -- "$KELVIN" run "$dir/base.ini"
expect 0 "wrote" "run.overwrite=true on the command line replaces it" -- "$KELVIN" run "$dir/base.ini" run.overwrite=true
expect 2 "base.ini:9: heat.initial = 'sine\(1, 1\)'|command line: heat.kappa = 'x'" "a bad override names the command line" -- "$KELVIN" run "$dir/base.ini" heat.kappa=x
expect 2 "command line: heat.dims = '7': expected an integer in \[1, 3\]" "out-of-range override" -- "$KELVIN" run "$dir/base.ini" heat.dims=7
expect 2 "expected section.key=value" "malformed override" -- "$KELVIN" run "$dir/base.ini" kappa=2
expect 2 "unknown key heat.kapa \(did you mean heat.kappa\?\)" "misspelt key on the command line" -- "$KELVIN" run "$dir/base.ini" heat.kapa=2
expect 2 "run.dt = '0.01': 0.01 exceeds the explicit stability limit 0\.00125 .*use run.dt <= 0\.00125" "run.dt above the stability limit names the limit" -- "$KELVIN" run "$dir/base.ini" run.dt=0.01 run.overwrite=true
expect 2 "1 cells but 2 ranks" "more ranks than cells is a clear error on every rank" -- $MPIRUN -n 2 "$KELVIN" run "$dir/base.ini" heat.dims=1 heat.n=1 "heat.initial=constant(1)" "run.output=$dir/err.h5"
expect 2 "heat.kappa = .*nofile.h5.*|cannot read 'nofile.h5'" "a missing kappa file" -- "$KELVIN" run "$dir/base.ini" heat.kappa=nofile.h5:/kappa "run.output=$dir/err.h5"
expect 2 "has no dataset '/nothere'" "a missing dataset in an initial-condition file" -- "$KELVIN" run "$dir/base.ini" "heat.initial=$dir/base.h5:/nothere" run.overwrite=true "run.output=$dir/ic.h5"

# Log levels: --verbose shows every rank's debug line with its rank prefix; --quiet hides info.
expect 0 "kelvin\[1\] debug: block offset \(8, 0, 0\), cells \(8, 12, 1\)" "--verbose logs per rank with a rank prefix" -- \
  $MPIRUN -n 2 "$KELVIN" --verbose run "$dir/base.ini" "run.output=$dir/verbose.h5"
out=$($MPIRUN -n 2 "$KELVIN" --quiet run "$dir/base.ini" "run.output=$dir/quiet.h5" 2>&1)
if [ $? -eq 0 ] && ! grep -q "info:" <<<"$out" && grep -q "^wrote" <<<"$out"; then
  ok "--quiet prints no info lines, only the result"
else
  bad "--quiet output: $out"
fi

# Implicit schemes: any dt, but a dt is required; the FFT solver needs a constant conductivity.
expect 0 "wrote" "backward Euler accepts a dt 8x the explicit limit" -- "$KELVIN" run "$dir/base.ini" heat.scheme=implicit run.dt=0.01 "run.output=$dir/be.h5"
expect 2 "run.dt: implicit schemes need a time step" "an implicit scheme without run.dt" -- "$KELVIN" run "$dir/base.ini" heat.scheme=cn "run.output=$dir/err.h5"
expect 2 "heat.kappa = '$dir/base.h5:/T': heat.solver = fft needs a constant conductivity" "fft with a variable conductivity" -- "$KELVIN" run "$dir/base.ini" heat.scheme=cn run.dt=0.01 "heat.kappa=$dir/base.h5:/T" "run.output=$dir/err.h5"
expect 2 "heat.scheme = 'rk4': expected one of explicit\|implicit\|cn" "an unknown scheme" -- "$KELVIN" run "$dir/base.ini" heat.scheme=rk4
expect 0 "wrote" "an FFTW wisdom file is written" -- "$KELVIN" run "$dir/base.ini" heat.scheme=cn run.dt=0.01 "heat.fft_wisdom=$dir/wisdom.txt" "run.output=$dir/wis1.h5"
if [ -s "$dir/wisdom.txt" ] && grep -q "fftw" "$dir/wisdom.txt"; then ok "wisdom file holds FFTW wisdom"; else bad "no wisdom written"; fi
expect 0 "wrote" "and read back on the next run" -- "$KELVIN" run "$dir/base.ini" heat.scheme=cn run.dt=0.01 "heat.fft_wisdom=$dir/wisdom.txt" "run.output=$dir/wis2.h5"
expect 0 "SAME" "with the same result" -- "$KELVIN" compare "$dir/wis1.h5" "$dir/wis2.h5" --rtol 0 --atol 1e-14

# The keys and options of the implicit solvers name what was expected.
expect 2 "heat.pc = 'ilu': expected one of mg\|jacobi\|none" "an unknown preconditioner" -- "$KELVIN" run "$dir/base.ini" heat.pc=ilu
expect 2 "heat.solver = 'gmres': expected one of fft\|pcg" "an unknown solver" -- "$KELVIN" run "$dir/base.ini" heat.solver=gmres
expect 2 "heat.mg_alpha = '0.5': expected 0 \(automatic\) or a value in \[1, 1.95\]" "a multigrid correction scale below 1" -- "$KELVIN" run "$dir/base.ini" heat.mg_alpha=0.5
expect 2 "heat.rtol = '0': expected a tolerance in \(0, 1\]" "a zero PCG tolerance" -- "$KELVIN" run "$dir/base.ini" heat.rtol=0
expect 2 "heat.nl_maxit = '0': expected an integer >= 1" "zero Picard iterations" -- "$KELVIN" run "$dir/base.ini" heat.nl_maxit=0
expect 2 "run.checkpoint_every = '-1': expected an integer >= 0" "a negative checkpoint interval" -- "$KELVIN" run "$dir/base.ini" run.checkpoint_every=-1
expect 2 "heat.fft_planner = 'fast': expected one of estimate\|measure\|patient" "an unknown FFTW planner" -- "$KELVIN" run "$dir/base.ini" heat.fft_planner=fast
expect 2 "heat.kappa = 'linear\(1\)': expected linear\(k0, k1\)" "linear() with one argument" -- "$KELVIN" run "$dir/base.ini" "heat.kappa=linear(1)"
expect 2 "run: --restart expects a FILE" "--restart without a file" -- "$KELVIN" run "$dir/base.ini" --restart
printf 'not wisdom\n' >"$dir/bad.wisdom"
expect 0 "heat.fft_wisdom: '$dir/bad.wisdom' is not FFTW wisdom; planning afresh" "a corrupt wisdom file is a warning, not a failure" -- "$KELVIN" run "$dir/base.ini" heat.scheme=cn run.dt=0.01 "heat.fft_wisdom=$dir/bad.wisdom" "run.output=$dir/badwis.h5"

# Restart-free continuation from a file: the initial state read from another output's last record.
expect 0 "wrote" "initial state from file.h5:/T (last record)" -- "$KELVIN" run "$dir/base.ini" "heat.initial=$dir/base.h5:/T" "run.output=$dir/from_file.h5" run.overwrite=true

# NaN/Inf: a huge source overflows; the run stops with the step number, keeps what it wrote.
rm -f "$dir/blowup.h5" "$dir/blowup.failed.h5"
expect 3 "non-finite temperature at step [0-9]+.*record.* written before it (is|are) kept in .*blowup.failed.h5" \
  "a non-finite state stops the run with its step number" -- \
  $MPIRUN -n 2 "$KELVIN" run "$dir/base.ini" "heat.initial=constant(1e308)" "run.output=$dir/blowup.h5" run.output_every=1
if [ ! -e "$dir/blowup.h5" ] && [ -e "$dir/blowup.failed.h5" ] && "$KELVIN" info "$dir/blowup.failed.h5" | grep -q 'status = "failed: heat: non-finite'; then
  ok "the failed run's records are kept in blowup.failed.h5 with its status; nothing under the final name"
else
  bad "failed-run file handling"
fi

# The streaming-store kernel (forced on for small grids) gives the same bits as the plain loop,
# in 2D and 3D, on 1 and 2 ranks, and still catches a non-finite state.
for d in 2 3; do
  if [ $d = 2 ]; then sz="heat.n=37,23" ic="gaussian(0.4, 0.5, 0.1, 3)"; else sz="heat.n=41,7,5" ic="gaussian(0.4, 0.5, 0.5, 0.1, 3)"; fi
  for st in on off; do
    $MPIRUN -n 2 "$KELVIN" -q run "$dir/base.ini" heat.dims=$d "$sz" heat.bc.xhi=neumann heat.bc_value.xhi=0.3 \
      "heat.initial=$ic" heat.stream_stores=$st "run.output=$dir/stream-$d-$st.h5" >/dev/null 2>&1
  done
done
"$KELVIN" -q run "$dir/base.ini" heat.dims=2 heat.n=37,23 heat.bc.xhi=neumann heat.bc_value.xhi=0.3 \
  "heat.initial=gaussian(0.4, 0.5, 0.1, 3)" heat.stream_stores=on "run.output=$dir/stream-2-on-1rank.h5" >/dev/null 2>&1
expect 0 "SAME" "2D: streaming-store kernel = plain loop, bit for bit (2 ranks)" -- "$KELVIN" compare "$dir/stream-2-on.h5" "$dir/stream-2-off.h5" --rtol 0 --atol 0
expect 0 "SAME" "2D: streaming-store kernel on 1 rank = plain loop on 2 ranks, bit for bit" -- "$KELVIN" compare "$dir/stream-2-on-1rank.h5" "$dir/stream-2-off.h5" --rtol 0 --atol 0 --var T
expect 0 "SAME" "3D: streaming-store kernel = plain loop, bit for bit (2 ranks)" -- "$KELVIN" compare "$dir/stream-3-on.h5" "$dir/stream-3-off.h5" --rtol 0 --atol 0
expect 3 "non-finite temperature at step 1 " "the streaming-store kernel detects a non-finite state" -- \
  "$KELVIN" run "$dir/base.ini" "heat.initial=constant(1e308)" heat.stream_stores=on "run.output=$dir/blowup-stream.h5"

# compare: 0 / 1 / 2
"$KELVIN" -q run "$dir/base.ini" "run.output=$dir/b2.h5" run.overwrite=true >/dev/null 2>&1
"$KELVIN" -q run "$dir/base.ini" "run.output=$dir/b3.h5" run.overwrite=true heat.kappa=1.001 >/dev/null 2>&1
"$KELVIN" -q run "$dir/base.ini" "run.output=$dir/b4.h5" run.overwrite=true heat.n=16,13 >/dev/null 2>&1
expect 0 "SAME: [0-9]+ datasets compared" "compare of identical runs" -- "$KELVIN" compare "$dir/base.h5" "$dir/b2.h5"
expect 0 "wall_time +skipped \(volatile\)" "compare skips the wall-clock diagnostic" -- "$KELVIN" compare "$dir/base.h5" "$dir/b2.h5"
expect 1 "T +max\|a-b\| .* DIFFERS" "compare finds a kappa change of 1e-3" -- "$KELVIN" compare "$dir/b3.h5" "$dir/base.h5"
expect 0 "T +max.* ok" "and accepts it with a loose enough tolerance" -- "$KELVIN" compare "$dir/b3.h5" "$dir/base.h5" --rtol 0.01 --atol 1e-3 --var T
expect 1 "SHAPE DIFFERS" "compare reports different shapes" -- "$KELVIN" compare "$dir/b4.h5" "$dir/base.h5"
expect 1 "nothere +MISSING" "compare --var of a missing dataset" -- "$KELVIN" compare "$dir/base.h5" "$dir/b2.h5" --var nothere
expect 2 "cannot read 'nofile.h5'" "compare with a missing file" -- "$KELVIN" compare nofile.h5 "$dir/base.h5"
expect 2 "expects a non-negative number" "compare with a bad tolerance" -- "$KELVIN" compare "$dir/base.h5" "$dir/b2.h5" --rtol abc
head -c 5000 "$dir/base.h5" >"$dir/truncated.h5"
expect 2 "corrupt or truncated|not an HDF5 file" "compare with a truncated file" -- "$KELVIN" compare "$dir/truncated.h5" "$dir/base.h5"
expect 2 "corrupt or truncated|not an HDF5 file" "info on a truncated file" -- "$KELVIN" info "$dir/truncated.h5"
printf 'this is not hdf5\n' >"$dir/text.h5"
expect 2 "not an HDF5 file" "info on a text file" -- "$KELVIN" info "$dir/text.h5"
expect 0 "/T  float64  shape \(2, 12, 16\)  dims \(time, y, x\)" "info shows shapes and dims" -- "$KELVIN" info "$dir/base.h5"
expect 0 "units = \"K\"" "info shows units" -- "$KELVIN" info "$dir/base.h5"
expect 0 "initial = sine\(1, 1\)" "info shows the stored config" -- "$KELVIN" info "$dir/base.h5"
# kelvin plot: a PNG map (its pixels are checked in tests/unit/test_plot), and its errors.
expect 0 "wrote $dir/base.png \(320x240\)" "plot writes a PNG" -- "$KELVIN" plot "$dir/base.h5" T --size 320x240 -o "$dir/base.png"
if [ "$(head -c 8 "$dir/base.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then ok "the plot starts with the PNG signature"; else bad "base.png is not a PNG"; fi
expect 0 "wrote" "plot --diff of a file with itself" -- "$KELVIN" plot "$dir/base.h5" T --diff "$dir/base.h5" -o "$dir/diff.png"
expect 2 "has no dataset" "plot of a missing variable" -- "$KELVIN" plot "$dir/base.h5" nothere -o "$dir/x.png"
expect 2 "not a field" "plot of a time series" -- "$KELVIN" plot "$dir/base.h5" T_mean -o "$dir/x.png"
expect 2 "records 0 to 1" "plot --step out of range" -- "$KELVIN" plot "$dir/base.h5" T --step 7 -o "$dir/x.png"
expect 2 "expected FILE VAR -o" "plot without -o" -- "$KELVIN" plot "$dir/base.h5" T
expect 2 "--step expects an integer" "plot --step that is not a number" -- "$KELVIN" plot "$dir/base.h5" T --step abc -o "$dir/x.png"
# Every example in configs/ is valid and runs (shortened, into tests/out).
for ini in configs/*.ini; do
  name=$(basename "$ini" .ini)
  short=run.t_end=0.0005
  if grep -q '^model *= *ebm' "$ini"; then
    y0=$(sed -n 's/^year_start *= *\([0-9-]*\).*/\1/p' "$ini")
    short=run.year_end=$(( ${y0:-1850} + 1 ))
  fi
  expect 0 "wrote $dir/example-$name.h5" "example $ini validates and runs (2 ranks, shortened)" -- \
    $MPIRUN -n 2 "$KELVIN" run "$ini" "run.output=$dir/example-$name.h5" "$short"
  if grep -q '^\[sweep\]' "$ini"; then
    expect 0 "^case," "sweep example $ini enumerates its design (--dry-run)" -- \
      "$KELVIN" sweep "$ini" --dry-run
  fi
done
# No partial files anywhere after all of that.
if ls "$dir"/*.part >/dev/null 2>&1; then bad "partial files left: $(ls "$dir"/*.part)"; else ok "no .part file left behind"; fi
exit $fail
