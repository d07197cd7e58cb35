#!/usr/bin/env bash
# Serial commands start without MPI: with Open MPI made unable to initialise (an unknown pml),
# kelvin --version, --help, fit, predict (one point, a table, a stream), info, plot, compare and a
# heat run on one process still work (the run equal to one with MPI), while an ebm run (its grid
# starts MPI) and KELVIN_MPI=always fail -- so the probe is real.
# predict --stdin answers one line per point; global options may follow the command.
set -u
: "${KELVIN:=bin/kelvin}" "${OUT:=tests/out}" "${PY:=/usr/bin/python3}"
dir="$OUT/startup"
rm -rf "$dir"
mkdir -p "$dir"
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

$PY - "$dir" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(3)
X = rng.uniform(0, 1, (40, 2))
np.savetxt(f"{sys.argv[1]}/d.csv", np.c_[X, np.sin(3 * X[:, 0]) + X[:, 1] ** 2], delimiter=",",
           header="a,b,y", comments="")
np.savetxt(f"{sys.argv[1]}/in.csv", X[:5], delimiter=",", header="a,b", comments="")
PY
printf '[surrogate]\ndata = %s/d.csv\ninputs = a, b\noutput = y\nkind = gp\nmodel = %s/gp.h5\ncv_folds = 0\n' \
  "$dir" "$dir" >"$dir/gp.ini"
printf '[run]\noutput = %s/h.h5\nt_end = 0.01\n[heat]\ndims = 1\nn = 16\n' "$dir" >"$dir/h.ini"
KELVIN_MPI=always "$KELVIN" -q run "$dir/h.ini" >/dev/null 2>&1 || bad "the heat run for the probes failed"

export OMPI_MCA_pml=kelvin_no_such_pml # MPI_Init fails with this
try() {
  local what=$1
  shift
  if "$@" >"$dir/out.txt" 2>&1; then ok "without MPI: $what"; else bad "$what: $(tail -n 3 "$dir/out.txt")"; fi
}
try "kelvin --version" "$KELVIN" --version
try "kelvin --help" "$KELVIN" --help
try "kelvin fit (one rank)" "$KELVIN" -q fit "$dir/gp.ini"
try "kelvin predict one point" "$KELVIN" predict "$dir/gp.h5" a=0.3 b=0.4
try "kelvin predict --input/--output CSV" "$KELVIN" predict "$dir/gp.h5" --input "$dir/in.csv" --output "$dir/p.csv"
try "kelvin info" "$KELVIN" info "$dir/gp.h5"
try "kelvin compare" "$KELVIN" compare "$dir/h.h5" "$dir/h.h5"
try "kelvin plot" "$KELVIN" plot "$dir/h.h5" T -o "$dir/h.png"
try "kelvin run of a heat case on one process" "$KELVIN" -q run "$dir/h.ini" run.overwrite=true \
  "run.output=$dir/h_nompi.h5"
printf '[run]\nmodel = ebm\noutput = %s/e.h5\nyear_end = 1851\n[ebm]\nnlat = 8\nnlon = 1\n' "$dir" >"$dir/e.ini"
if "$KELVIN" -q run "$dir/e.ini" >/dev/null 2>&1; then
  bad "an ebm run (whose grid starts MPI) succeeded although MPI cannot start: the probe proves nothing"
else
  ok "the probe is real: an ebm run, which starts MPI for its grid, fails with it"
fi
if KELVIN_MPI=always "$KELVIN" --version >/dev/null 2>&1; then
  bad "KELVIN_MPI=always did not start MPI"
else
  ok "KELVIN_MPI=always starts MPI even for --version"
fi
unset OMPI_MCA_pml
if "$KELVIN" compare "$dir/h.h5" "$dir/h_nompi.h5" --rtol 0 --atol 0 >/dev/null 2>&1; then
  ok "the heat run without MPI equals the one with it, bit for bit"
else
  bad "heat with and without MPI differ: $("$KELVIN" compare "$dir/h.h5" "$dir/h_nompi.h5" --rtol 0 --atol 0 | tail -n 3)"
fi

# A heat run on one process without MPI (one block, local periodic halos, POSIX HDF5) gives the
# bits of the same run with MPI, for every scheme and solver and periodic walls in 1/2/3D. FFTW
# plans by estimate here: its default (measure) picks plans by timing, which may differ between
# two processes in the last bit (issue 19 makes reruns reproducible).
printf '[run]\nt_end = 0.01\ndt = 0.0005\noutput_every = 5\n[heat]\nfft_planner = estimate\n' >"$dir/cmb.ini"
same=0
total=0
for combo in "dims=3 n=12,10,8 scheme=explicit bc=periodic initial=sine(2,1,1)" \
  "dims=1 n=64 scheme=cn solver=fft bc=periodic initial=sine(2)" \
  "dims=3 n=16,16,16 scheme=implicit solver=fft bc=periodic initial=sine(1,2,1)" \
  "dims=3 n=16,16,8 scheme=cn solver=pcg bc=neumann initial=sine(1,1,1)" \
  "dims=2 n=30,20 scheme=implicit solver=pcg bc.xlo=periodic bc.xhi=periodic bc.ylo=neumann bc.yhi=dirichlet initial=sine(1,1)"; do
  total=$((total + 1))
  args=$(sed 's/\([a-z.]*\)=/heat.\1=/g' <<<"$combo")
  # shellcheck disable=SC2086
  "$KELVIN" -q run "$dir/cmb.ini" $args "run.output=$dir/cs.h5" run.overwrite=true >/dev/null 2>&1 &&
    KELVIN_MPI=always "$KELVIN" -q run "$dir/cmb.ini" $args "run.output=$dir/cm.h5" run.overwrite=true >/dev/null 2>&1 &&
    "$KELVIN" compare "$dir/cs.h5" "$dir/cm.h5" --rtol 0 --atol 0 >/dev/null 2>&1 && same=$((same + 1))
done
[ "$same" = "$total" ] && ok "heat without MPI = heat with MPI, bit for bit, in $total set-ups (1/2/3D, explicit, CN, implicit, FFT, PCG, periodic)" ||
  bad "heat without MPI differs from heat with MPI in $((total - same)) of $total set-ups"

# --stdin: one 'mean std' line per point, flushed; comments and blank lines skipped; by name too.
out=$(printf '0.3 0.4\n# a comment\n\n0.1,0.9\nb=0.4 a=0.3\n' | "$KELVIN" predict "$dir/gp.h5" --stdin 2>/dev/null)
one=$("$KELVIN" predict "$dir/gp.h5" a=0.3 b=0.4 2>/dev/null)
if [ "$(wc -l <<<"$out")" = 3 ] && [ "$(sed -n 1p <<<"$out")" = "$one" ] && [ "$(sed -n 3p <<<"$out")" = "$one" ]; then
  ok "predict --stdin: 3 points in, 3 'mean std' lines out, equal to the one-point command"
else
  bad "predict --stdin gave: $out (one point: $one)"
fi
# An outer loop talks to it through a pipe, one point at a time: the answer must come before
# the next question (flushed per line).
ans=$($PY - "$KELVIN" "$dir/gp.h5" <<'PY'
import subprocess, sys
p = subprocess.Popen([sys.argv[1], "predict", sys.argv[2], "--stdin"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
got = []
for x in ("0.2 0.2", "0.5 0.5", "0.8 0.1"):
    p.stdin.write(x + "\n"); p.stdin.flush()
    got.append(p.stdout.readline().strip())
p.stdin.close(); p.wait()
print(sum(len(g.split()) >= 2 for g in got), p.returncode)
PY
)
[ "$ans" = "3 0" ] && ok "predict --stdin answers each line before the next is sent (a pipe dialogue)" ||
  bad "pipe dialogue: $ans"
err=$(printf '0.3 0.4\n0.3\n' | "$KELVIN" predict "$dir/gp.h5" --stdin 2>&1 >/dev/null)
rc=$?
grep -q "line 2: no value for b" <<<"$err" && [ $rc = 2 ] && ok "a short line is refused naming its line and the input (exit 2)" ||
  bad "short line: rc $rc, $err"
out=$(printf '5 0.4\n' | "$KELVIN" predict "$dir/gp.h5" --stdin 2>&1)
grep -q "outside$" <<<"$(head -n 1 <<<"$out")" && grep -q "outside the training box" <<<"$out" &&
  ok "a point outside the training box is flagged 'outside' and warned about" || bad "outside: $out"
head -n 1 "$dir/p.csv" | grep -q "mean,std,lo95,hi95,outside" && ok "predict --output CSV has an outside column" ||
  bad "CSV header: $(head -n 1 "$dir/p.csv")"
# Global options after the command.
if "$KELVIN" predict "$dir/gp.h5" a=0.3 b=0.4 --quiet >/dev/null 2>"$dir/q.txt" && [ ! -s "$dir/q.txt" ]; then
  ok "global options may follow the command (predict ... --quiet)"
else
  bad "--quiet after the command: $(cat "$dir/q.txt")"
fi
# Processes started alone get Open MPI's isolated singleton; several at once on one machine (Slurm
# array tasks on a node, an optimiser's parallel evaluations) must not share its session files:
# a sweep opening a file per case while short runs start and finish beside it.
printf '[run]\nt_end = 0.005\noutput_every = 5\n[heat]\ndims = 2\nn = 32, 24\n[sweep]\nmethod = lhs\nsamples = 40\nvary = heat.kappa:0.2:1.0\ndir = %s/csweep\n' \
  "$dir" >"$dir/csweep.ini"
printf '[run]\noutput = %s/c.h5\nt_end = 0.005\noverwrite = true\n[heat]\ndims = 1\nn = 16\n' "$dir" >"$dir/c.ini"
before=$(ls -d "${TMPDIR:-/tmp}"/kelvin-mpi.* 2>/dev/null | wc -l)
"$KELVIN" -q sweep "$dir/csweep.ini" >"$dir/csweep.log" 2>&1 &
sp=$!
okc=0
for i in $(seq 1 12); do
  "$KELVIN" -q run "$dir/c.ini" "run.output=$dir/c$i.h5" >"$dir/c$i.log" 2>&1 && okc=$((okc + 1))
done
wait "$sp"
src=$?
if [ "$okc" = 12 ] && [ "$src" = 0 ] && grep -q "40 done, 0 failed" "$dir/csweep.log" 2>/dev/null ||
  { [ "$src" = 0 ] && [ "$(grep -c ',done,' "$dir/csweep/manifest.csv")" = 40 ] && [ "$okc" = 12 ]; }; then
  ok "a sweep of 40 cases and 12 short runs started alone at the same time all finish"
else
  bad "concurrent singletons: sweep exit $src ($(grep -c ',done,' "$dir/csweep/manifest.csv" 2>/dev/null) done), $okc of 12 runs; $(grep -h -i 'error\|fail' "$dir"/c*.log "$dir/csweep.log" | head -n 3)"
fi
after=$(ls -d "${TMPDIR:-/tmp}"/kelvin-mpi.* 2>/dev/null | wc -l)
[ "$after" -le "$before" ] && ok "each one's private Open MPI session directory is removed at exit" ||
  bad "session directories left behind: $(ls -d "${TMPDIR:-/tmp}"/kelvin-mpi.* | head -n 3)"
exit $fail
