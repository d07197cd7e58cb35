#!/usr/bin/python3
"""The test simulator of tests/external: f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 and
g = x + 2 y from kelvin's parameters file (any of its three formats), with ways to misbehave:
    mode 1: exit 1 with a message on stderr     mode 2: hang (sleep 1000 s)
    mode 3: write garbage results               mode 4: fail the first attempt only
    mode 5: sleep SLOW seconds first (kill tests)
It appends "start CASE" and "done CASE" to $SIMLOG (when set) and records its argv and the KELVIN_*
environment in env.json of its work directory."""
import configparser
import json
import os
import sys
import time

params, results = sys.argv[1], sys.argv[2]
text = open(params).read()
if text.lstrip().startswith("{"):
    p = json.loads(text)["params"]
elif text.lstrip().startswith("[params]"):
    c = configparser.ConfigParser()
    c.read_string(text)
    p = dict(c["params"])
else:  # Dakota's standard format
    lines = [line.split() for line in text.splitlines() if line.strip()]
    n = int(lines[0][0])
    p = {name: value for value, name in lines[1:1 + n]}
case = os.environ.get("KELVIN_CASE", "?")
log = os.environ.get("SIMLOG")
if log:
    with open(log, "a") as f:
        f.write(f"start {case}\n")
json.dump({"argv": sys.argv, "env": {k: v for k, v in os.environ.items() if k.startswith("KELVIN_")},
           "params": p}, open("env.json", "w"))
mode = int(float(p.get("mode", 0)))
if mode == 1:
    print("sim.py: the solver diverged at step 17", file=sys.stderr)
    sys.exit(1)
if mode == 2:
    time.sleep(1000)
if mode == 3:
    open(results, "w").write("f = banana\ng = 1\n")
    sys.exit(0)
if mode == 4:
    marker = os.path.join(os.environ["SIMSTATE"], f"tried_{case}")
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(3)
if mode == 5:
    time.sleep(float(os.environ.get("SLOW", "0.1")))
x, y = float(p["x"]), float(p["y"])
with open(results, "w") as f:
    f.write("%.17e f\n%.17e g\n" % ((1 - x) ** 2 + 100 * (y - x * x) ** 2, x + 2 * y))
if log:
    with open(log, "a") as f:
        f.write(f"done {case}\n")
