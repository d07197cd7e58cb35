#!/usr/bin/env bash
# Regenerate README.md's configuration reference from the key registry
# (kelvin run --keys --markdown), between the keys:begin / keys:end markers.
set -eu
cd "$(dirname "$0")/.."
rows=$(bin/kelvin run --keys --markdown)
/usr/bin/python3 - "$rows" <<'PY'
import re, sys
p = "README.md"
s = open(p).read()
head = "| key | type | default | meaning |\n|---|---|---|---|\n"
s2 = re.sub(r"(<!-- keys:begin[^\n]*-->\n).*?(<!-- keys:end -->)",
            lambda m: m.group(1) + head + sys.argv[1] + "\n" + m.group(2), s, flags=re.S)
open(p, "w").write(s2)
print("README.md: %d keys" % len(sys.argv[1].splitlines()))
PY
