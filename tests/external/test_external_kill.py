"""kill -9 at random moments of an external sweep, then --resume, 20 times: nothing is lost and
nothing is duplicated. Each kill takes the simulator with it (no process is left running in a
work directory); a case recorded as done is never run again; after the last resume every case is
done exactly once, with the serial loop's responses."""
import csv
import os
import random
import shutil
import signal
import subprocess
import time

from kvtest import KELVIN, OUT, ROOT, check, finish, write_config

D = os.path.join(OUT, "external_kill")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
SIM = os.path.join(ROOT, "tests", "external", "sim.py")
LOG = os.path.join(D, "sim.log")
N = 24
c = write_config("ext_kill", f"""[run]
model = external
[external]
command = {SIM} {{params}} {{results}}
inputs = x, y, mode
mode = 5
responses = f, g
[sweep]
method = lhs
samples = {N}
seed = 9
vary = external.x:-1:1, external.y:-1:1
dir = {D}/sweep
""")
env = dict(os.environ, SIMLOG=LOG, SLOW="0.15")
rng = random.Random(20261129)


def done_set():
    path = f"{D}/sweep/manifest.csv"
    if not os.path.exists(path):
        return set()
    return {int(r["case"]) for r in csv.DictReader(open(path)) if r["status"] == "done"}


def log_lines():
    return open(LOG).read().split() if os.path.exists(LOG) else []


def sims_in(dirpath):
    """Processes whose working directory lies in dirpath."""
    found = []
    real = os.path.realpath(dirpath)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd == real or cwd.startswith(real + "/"):
                found.append(pid)
    return found


violations, orphans, kills = [], 0, 0
for k in range(20):
    before = done_set()
    start = len(log_lines())
    args = [KELVIN, "-q", "sweep", c] + (["--resume"] if os.path.exists(f"{D}/sweep") else [])
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(rng.uniform(0.05, 0.6))
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        kills += 1
    p.wait()
    time.sleep(0.05)
    orphans += len(sims_in(f"{D}/sweep/work"))
    # A case done before this attempt must not have been started by it.
    new = log_lines()[start:]
    for i in range(0, len(new) - 1, 2):
        if new[i] == "start" and int(new[i + 1]) in before:
            violations.append(int(new[i + 1]))
check(kills >= 15, f"the sweep was killed with SIGKILL {kills} times of 20")
check(orphans == 0, "no simulator outlived a killed kelvin")
check(not violations, f"no case recorded as done was run again (re-run: {violations})")
rc = subprocess.run([KELVIN, "-q", "sweep", c, "--resume"], env=env, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True)
rows = list(csv.DictReader(open(f"{D}/sweep/manifest.csv")))
cases = [int(r["case"]) for r in rows]
exact = all(r["status"] == "done" and
            float(r["f"]) == (1 - float(r["external.x"])) ** 2 +
            100 * (float(r["external.y"]) - float(r["external.x"]) ** 2) ** 2 for r in rows)
check(rc.returncode == 0 and sorted(cases) == list(range(N)) and exact,
      f"after the last --resume all {N} cases are done once, with the serial loop's responses")
files = sorted(f for f in os.listdir(f"{D}/sweep") if f.startswith("case_"))
check(files == [f"case_{i:04d}.h5" for i in range(N)],
      "one case file per case, no leftovers (.part, .interrupted) beside them")
finish()
