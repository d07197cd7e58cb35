#!/usr/bin/env bash
# Regenerate the regression references in tests/ref/ from tests/regression/*.ini (1 rank).
# Review the change (kelvin compare old new, kelvin info) before committing new references.
set -eu
cd "$(dirname "$0")/../.."
for ini in tests/regression/*.ini; do
  name=$(basename "$ini" .ini)
  bin/kelvin -q run "$ini" "run.output=tests/ref/$name.h5" run.overwrite=true
done
ls -l tests/ref/
