#!/usr/bin/env bash
# make install stands alone: install to a temporary PREFIX, move the prefix (nothing may point at
# where it was installed or built), hide the source tree (a mount namespace with an empty tmpfs
# over it), and run what a user would: an ebm ssp245 case (scenarios from share/kelvin), a GP
# fit + predict, the C example built with pkg-config only, the man page; then make uninstall.
set -u
: "${OUT:=tests/out}"
src=$(pwd)
dir=$(mktemp -d /tmp/kelvin-install.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

if make -s install PREFIX="$dir/first" >"$dir/install.log" 2>&1; then
  ok "make install PREFIX=$dir/first"
else
  bad "make install failed: $(tail -n 5 "$dir/install.log")"
  exit 1
fi
for f in bin/kelvin lib/libkelvin.a lib/libkelvin.so.0 lib/libkelvin.so lib/pkgconfig/kelvin.pc \
  include/kelvin/kelvin.h include/kelvin/surrogates/gp.h share/kelvin/configs/scenarios/ssp245.csv \
  share/kelvin/configs/quickstart.ini share/man/man1/kelvin.1 \
  share/bash-completion/completions/kelvin; do
  [ -e "$dir/first/$f" ] && ok "installed $f" || bad "not installed: $f"
done
if grep -rq "$src" "$dir/first/bin/kelvin" "$dir/first/lib/libkelvin.so.0"; then
  bad "the installed binary or library names the build tree $src"
else
  ok "no path of the build tree in the installed binary and library"
fi
# Relocated: the same files under another prefix (kelvin.pc's prefix rewritten, as a package
# manager or `make install PREFIX=` would have written it).
mv "$dir/first" "$dir/prefix"
sed -i "s|$dir/first|$dir/prefix|g" "$dir/prefix/lib/pkgconfig/kelvin.pc"

cat >"$dir/user.sh" <<SH
set -u
cd "$dir/work"
export PATH="$dir/prefix/bin:/usr/bin:/bin" PKG_CONFIG_PATH="$dir/prefix/lib/pkgconfig"
unset KELVIN_DATA_DIR
n=0
check() { n=\$((n + 1)); if eval "\$2" >"check\$n.log" 2>&1; then echo "ok - \$1"; else echo "FAIL - \$1: \$(tail -n 4 check\$n.log)"; fi; }
[ -e "$src/Makefile" ] && echo "FAIL - the source tree is still visible" || echo "ok - the source tree is out of the way"
check "installed kelvin runs an ebm ssp245 case (scenario found under share/kelvin)" \
  "kelvin -q run $dir/prefix/share/kelvin/configs/ebm_ssp245.ini run.year_end=1853 ebm.nlat=12 ebm.nlon=18 run.output=ebm.h5 && kelvin info ebm.h5 | grep -q 'scenario = ssp245'"
printf 'a,b,y\n' > d.csv
awk 'BEGIN { for (i = 0; i < 30; i++) { a = (i * 0.618034) % 1; b = (i + 0.5) / 30; printf "%.6f,%.6f,%.6f\n", a, b, sin(3 * a) + b * b } }' >> d.csv
printf '[surrogate]\ndata = d.csv\ninputs = a, b\noutput = y\nkind = gp\nmodel = gp.h5\ncv_folds = 0\n' > gp.ini
check "installed kelvin fits a GP" "kelvin -q fit gp.ini"
check "installed kelvin predicts with it" "kelvin predict gp.h5 a=0.4 b=0.6 > pred.txt"
check "the C example builds with cc \\\$(pkg-config --cflags --libs kelvin) alone" \
  "cc $dir/prefix/share/kelvin/gp_predict.c \\\$(pkg-config --cflags --libs kelvin) -o gp_predict"
check "the C example fits and predicts through the public headers" "./gp_predict"
check "the C example loads the model kelvin fitted and predicts the same" \
  "./gp_predict gp.h5 0.4 0.6 > c.txt && awk 'NR == FNR { m = \\\$1; next } { d = \\\$1 - m; exit !(d < 1e-9 && d > -1e-9) }' pred.txt c.txt"
check "the man page renders" "man -l $dir/prefix/share/man/man1/kelvin.1 2>/dev/null | grep -q 'KELVIN_DATA_DIR' || grep -q KELVIN_DATA_DIR $dir/prefix/share/man/man1/kelvin.1"
SH
mkdir -p "$dir/work"
if unshare -m true 2>/dev/null; then
  unshare -m bash -c "mount -t tmpfs none '$src' && bash '$dir/user.sh'" || bad "user session"
else
  echo "skip - no mount namespace here (unshare -m needs root): the source tree stays visible"
  bash "$dir/user.sh" | sed '/source tree is still visible/d'
fi

if make -s uninstall PREFIX="$dir/prefix" >/dev/null 2>&1 && [ ! -e "$dir/prefix/bin/kelvin" ] &&
  [ ! -e "$dir/prefix/include/kelvin" ] && [ ! -e "$dir/prefix/share/kelvin" ] &&
  [ ! -e "$dir/prefix/lib/libkelvin.so.0" ]; then
  ok "make uninstall removes what make install put there"
else
  bad "make uninstall left files: $(find "$dir/prefix" -type f | head -5)"
fi
exit $fail
