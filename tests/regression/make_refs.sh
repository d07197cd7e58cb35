#!/usr/bin/env bash
# Regenerate regression references in tests/ref/ from tests/regression/*.ini (1 rank).
#   tests/regression/make_refs.sh              all of them
#   tests/regression/make_refs.sh NAME ...     only these (e.g. heat2d_cn_fft)
# Review the change (kelvin compare old new, kelvin info) before committing new references.
set -eu
cd "$(dirname "$0")/../.."
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for ini in tests/regression/*.ini; do names+=("$(basename "$ini" .ini)"); done
fi
for name in "${names[@]}"; do
  ini="tests/regression/$name.ini"
  [ -f "$ini" ] || { echo "make_refs: no $ini" >&2; exit 2; }
  bin/kelvin -q run "$ini" "run.output=tests/ref/$name.h5" run.overwrite=true
done
ls -l tests/ref/
