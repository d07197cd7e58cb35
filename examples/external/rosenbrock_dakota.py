#!/usr/bin/python3
"""A Dakota analysis driver, unchanged: it reads Dakota's standard parameters file and writes
Dakota's results file ("value descriptor" lines, in the order of the active set vector), as
drivers written for Dakota's fork interface do. kelvin runs it with params_format = dakota."""
import sys

params, results = sys.argv[1], sys.argv[2]
with open(params) as f:
    lines = [line.split() for line in f if line.strip()]
nvar = int(lines[0][0])
x = {name: float(value) for value, name in lines[1:1 + nvar]}
nfn = int(lines[1 + nvar][0])
asv = [(int(a), tag.split(":", 1)[1]) for a, tag in lines[2 + nvar:2 + nvar + nfn]]
x1, x2 = x["x1"], x["x2"]
values = {"rosen": 100.0 * (x2 - x1 * x1) ** 2 + (1.0 - x1) ** 2}
with open(results, "w") as f:
    for a, name in asv:
        if a & 1:
            f.write("%.17e %s\n" % (values[name], name))
