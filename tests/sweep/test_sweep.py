"""kelvin sweep: design enumeration for every method, the MPI task farm across rank counts and
ranks_per_case, failing cases, SIGTERM and kill -9 followed by --resume, slices + --collect, the
generated Slurm script run by hand, and bad sweep specifications.
"""
import csv
import io
import math
import os
import re
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import xarray as xr

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

D = os.path.join(OUT, "sweep")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args, ranks=1, env=None, cwd=None):
    cmd = [KELVIN] + args
    if ranks > 1:
        cmd = MPIRUN + ["-n", str(ranks)] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def design(cfg, *over):
    rc, out, err = sh(["sweep", cfg, "--dry-run"] + list(over))
    if rc != 0:
        print("# " + err.strip().replace("\n", "\n# "))
        return None, None
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], rows[1:]


def manifest(d, stem="manifest"):
    with open(os.path.join(d, stem + ".csv")) as f:
        return list(csv.DictReader(f))


def cfg(name, sweep, heat="dims = 1\nn = 32", run="t_end = 0.01\noutput_every = 20"):
    return write_config("sweep_" + name, f"[run]\nmodel = heat\n{run}\n\n[heat]\n{heat}\n\n"
                        f"[sweep]\ndir = {D}/{name}\n{sweep}\n")


def same_files(a, b):
    rc = subprocess.run([KELVIN, "-q", "compare", a, b, "--rtol", "0", "--atol", "0"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return rc == 0


def complete(path):
    try:
        with h5py.File(path, "r") as f:
            return "steps" in f.attrs and f["time"].shape[0] >= 1
    except Exception:
        return False


# ------------------------------------------------------------------ enumeration
g = cfg("grid", "method = grid\nvary = heat.kappa=0.5|1|2, heat.bc_value=0|1")
head, rows = design(g)
check(head == ["case", "heat.kappa", "heat.bc_value"] and len(rows) == 6,
      "grid: 3 x 2 values give 6 cases with one column per key")
check(rows is not None and [r[1:] for r in rows] ==
      [["0.5", "0"], ["0.5", "1"], ["1", "0"], ["1", "1"], ["2", "0"], ["2", "1"]]
      and [r[0] for r in rows] == [str(i) for i in range(6)],
      "grid: cartesian product in order, first key slowest, cases numbered 0..5")
_, rows2 = design(g)
check(rows2 == rows, "grid: the same configuration numbers the cases the same way")
_, rows3 = design(cfg("grid_commas", "method = grid\nvary = heat.n=16|32, "
                      "heat.source=gaussian(0.5,0.1,10)|0"))
check(rows3 is not None and len(rows3) == 4 and rows3[0][2] == "gaussian(0.5,0.1,10)",
      "grid: values may contain commas (function-like values)")

n = 20
lhs = cfg("lhs", f"method = lhs\nsamples = {n}\nseed = 7\n"
          "vary = heat.kappa:0.1:2.0, heat.bc_value:0.01:100:log")
head, rows = design(lhs)
x = np.array([[float(v) for v in r[1:]] for r in rows]) if rows else np.zeros((0, 2))
check(len(rows or []) == n and head == ["case", "heat.kappa", "heat.bc_value"],
      f"lhs: {n} cases, one column per key")
check(x.size and x[:, 0].min() >= 0.1 and x[:, 0].max() <= 2.0 and x[:, 1].min() >= 0.01
      and x[:, 1].max() <= 100, "lhs: every value inside its range")
if x.size:
    s0 = np.floor((x[:, 0] - 0.1) / 1.9 * n).astype(int)
    s1 = np.floor((np.log(x[:, 1]) - math.log(0.01)) / (math.log(100) - math.log(0.01)) * n)
    check(sorted(s0) == list(range(n)),
          "lhs: exactly one point in each of the n strata of a linear range")
    check(sorted(s1.astype(int)) == list(range(n)),
          "lhs: exactly one point in each of the n strata of log(value) for a :log range")
    check(sorted(np.floor(x[:, 1] / 100 * n).astype(int)) != list(range(n)),
          "lhs: a :log range is not stratified linearly (it is log-spaced)")
_, again = design(lhs)
_, other = design(lhs, "sweep.seed=8")
check(again == rows, "lhs: the same seed gives the same design")
check(other is not None and other != rows, "lhs: another seed gives another design")

sob = cfg("sobol", "method = sobol\nsamples = 16\nseed = 3\n"
          "vary = heat.kappa:0:1, heat.bc_value:0:1, run.cfl:0.1:0.9")
head, rows = design(sob)
x = np.array([[float(v) for v in r[1:]] for r in rows]) if rows else np.zeros((0, 3))
check(len(rows or []) == 16 and x.size and x[:, :2].min() >= 0 and x[:, :2].max() < 1
      and x[:, 2].min() >= 0.1 and x[:, 2].max() <= 0.9, "sobol: 16 cases inside the ranges")
if x.size:
    ok = all(sorted(np.floor(x[:, k] * 16).astype(int)) == list(range(16)) for k in range(2))
    pairs = {(int(a * 4), int(b * 4)) for a, b in x[:, :2]}
    check(ok and len(pairs) == 16,
          "sobol: 16 points balance every 1-D projection in 16 bins and the 2-D one in 4 x 4 "
          "(a (0,4,2)-net)")
_, again = design(sob)
_, other = design(sob, "sweep.seed=4")
check(again == rows and other is not None and other != rows,
      "sobol: reproducible for a seed, different for another")

with open(os.path.join(OUT, "sweep_cases.csv"), "w") as f:
    f.write("heat.kappa,heat.scheme,heat.source\n0.5,explicit,0\n1.5,cn,\"gaussian(0.5,0.1,3)\"\n"
            "2,implicit,1\n")
lst = cfg("list", f"method = list\ncases = {OUT}/sweep_cases.csv",
          run="t_end = 0.01\ndt = 0.0001\noutput_every = 20")
head, rows = design(lst)
check(head == ["case", "heat.kappa", "heat.scheme", "heat.source"] and rows is not None and
      [r[1:] for r in rows] == [["0.5", "explicit", "0"], ["1.5", "cn", "gaussian(0.5,0.1,3)"],
                                ["2", "implicit", "1"]],
      "list: one case per CSV row, in file order, quoted values kept")

ens = write_config("sweep_ens", f"""[run]
model = ebm
year_start = 2013
year_end = 2016
steps_per_year = 4
[ebm]
nlat = 12
nlon = 1
noise_std = 0.5
[sweep]
dir = {D}/ens
method = ensemble
members = 3
seed = 10
scenarios = ssp126, ssp585
""")
head, rows = design(ens)
check(head == ["case", "ebm.scenario", "ebm.seed"] and rows is not None and
      [r[1:] for r in rows] == [[s, str(k)] for s in ("ssp126", "ssp585") for k in (10, 11, 12)],
      "ensemble: scenarios x members, seeds seed..seed+members-1 per scenario")

rc1, _, _ = sh(["sweep", ens, f"sweep.dir={D}/ens1"])
rc2, _, err = sh(["sweep", ens, f"sweep.dir={D}/ens2", "sweep.ranks_per_case=2"], 2)
tas = {}
for c in range(6):
    with h5py.File(f"{D}/ens1/case_{c:04d}.h5", "r") as f:
        tas[c] = f["tas"][...]
        sc = f.attrs["config"]
        sc = sc.decode() if isinstance(sc, bytes) else sc
        check(f"scenario = {rows[c][1]}" in sc and f"seed = {rows[c][2]}" in sc,
              f"ensemble case {c} ran scenario {rows[c][1]} with seed {rows[c][2]}")
check(rc1 == 0 and rc2 == 0 and all(same_files(f"{D}/ens1/case_{c:04d}.h5",
                                                f"{D}/ens2/case_{c:04d}.h5") for c in range(6)),
      "ensemble: 1 rank and 2 ranks per case give identical members")
check(not np.array_equal(tas[0], tas[1]) and not np.array_equal(tas[0], tas[3]),
      "ensemble: members differ (their noise), scenarios differ")

# ------------------------------------------------------------------ bad specifications
bad = [
    ("unknown key", "method = lhs\nsamples = 4\nvary = heat.kapa:0:1", "unknown key heat.kapa"),
    ("lo > hi", "method = lhs\nsamples = 4\nvary = heat.kappa:2:1", "must be below"),
    ("empty list", "method = grid\nvary = heat.kappa=", "empty value"),
    ("non-numeric range", "method = sobol\nsamples = 4\nvary = heat.kappa:a:1", "not numeric"),
    ("non-numeric grid value", "method = grid\nvary = heat.bc_value=1|abc", "sweep case 1"),
    ("log range through 0", "method = lhs\nsamples = 4\nvary = heat.kappa:0:1:log",
     "log range must be positive"),
    ("samples = 0", "method = lhs\nsamples = 0\nvary = heat.kappa:0.1:1", "sweep.samples"),
    ("no method", "vary = heat.kappa=1|2", "sweep.method"),
    ("key of another method", "method = grid\nsamples = 4\nvary = heat.kappa=1|2",
     "not used by method = grid"),
    ("varying the output", "method = grid\nvary = run.output=a.h5|b.h5", "cannot be varied"),
    ("ensemble of a model without a seed", "method = ensemble\nmembers = 2", "has none"),
    ("missing cases file", "method = list\ncases = /nonexistent.csv", "cannot read"),
]
for i, (what, spec, expect) in enumerate(bad):
    c = cfg(f"bad{i}", spec)
    rc, out, err = sh(["sweep", c])
    line_named = f"sweep_bad{i}.ini:" in err
    check(rc == 2 and expect in err and line_named and not os.path.exists(f"{D}/bad{i}"),
          f"bad spec ({what}): exit 2 before any case runs, naming file:line and '{expect}'")
    if rc != 2 or expect not in err:
        print("# " + err.strip().replace("\n", "\n# "))
with open(os.path.join(OUT, "sweep_empty.csv"), "w") as f:
    f.write("heat.kappa\n")
for args, expect in ((["--slice", "3/3"], "0 <= I < K"), (["--slice", "x"], "I/K"),
                     (["--array", "2"], "go with --emit-slurm"),
                     (["--collect", "--resume"], "exclude each other"),
                     (["--bogus"], "unknown option")):
    rc, _, err = sh(["sweep", g] + args)
    check(rc == 2 and expect in err, f"bad option {' '.join(args)}: exit 2 saying '{expect}'")
rc, _, err = sh(["sweep", cfg("bad_emptycsv", f"method = list\ncases = {OUT}/sweep_empty.csv")])
check(rc == 2 and "no cases" in err, "bad spec (a cases file with no rows): exit 2")

# ------------------------------------------------------------------ the task farm
farm = cfg("farm", "method = lhs\nsamples = 7\nseed = 5\n"
           "vary = heat.kappa:0.2:1.0, heat.bc_value:0:1",
           heat="dims = 2\nn = 24, 20\nscheme = explicit\nsource = gaussian(0.5,0.5,0.1,20)",
           run="t_end = 0.02\noutput_every = 25")
ref = f"{D}/farm_ref"
rc, out, err = sh(["sweep", farm, f"sweep.dir={ref}"])
check(rc == 0 and "7 done" in out and len(manifest(ref)) == 7 and
      all(r["status"] == "done" for r in manifest(ref)),
      "1 rank: 7 cases done, manifest says so")
check(err.count("done in") == 7, "without a terminal: one log line per finished case")
if shutil.which("script"):
    # On a terminal (a pseudo-terminal from util-linux's script): one updating line instead.
    p = subprocess.run(["script", "-qec", f"{KELVIN} sweep {farm} sweep.dir={D}/farm_tty", "/dev/null"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tty = p.stdout.decode()  # bytes: text mode would turn the carriage returns into newlines
    check(p.returncode == 0 and tty.count("\r\033[K") >= 7 and "7/7 done, 0 failed" in tty
          and "ETA" in tty and "done in" not in tty,
          "on a terminal: one updating progress line (done/total, failed, elapsed, ETA)")
m = manifest(ref)
with h5py.File(f"{ref}/manifest.h5", "r") as f:
    h5ok = (list(f["case"][...]) == list(range(7)) and
            np.allclose(f["heat.kappa"][...], [float(r["heat.kappa"]) for r in m], rtol=0, atol=0)
            and [s.decode() for s in f["status"][...]] == [r["status"] for r in m])
ds = xr.open_dataset(f"{ref}/manifest.h5", engine="h5netcdf")
check(h5ok and ds["heat.kappa"].dims == ("case",), "manifest.h5 holds the same table as the CSV "
      "(h5py), with a case dimension xarray reads")
ds.close()
with h5py.File(f"{ref}/case_0003.h5", "r") as f:
    stored = f.attrs["config"]
    stored = stored.decode() if isinstance(stored, bytes) else stored
check(f"kappa = {m[3]['heat.kappa']}" in stored and "sweep case 3" in stored,
      "a case file stores its resolved configuration with the varied values, marked as set by "
      "the sweep")
for ranks, rpc in ((2, 1), (2, 2), (3, 1), (3, 2), (4, 2)):
    d = f"{D}/farm_{ranks}_{rpc}"
    rc, out, err = sh(["sweep", farm, f"sweep.dir={d}", f"sweep.ranks_per_case={rpc}"], ranks)
    same = rc == 0 and all(same_files(f"{ref}/case_{c:04d}.h5", f"{d}/case_{c:04d}.h5")
                           for c in range(7))
    check(same, f"{ranks} ranks, ranks_per_case {rpc}: all 7 case files identical to 1 rank "
          "(zero tolerance)")
    if rc != 0:
        print("# " + err.strip().replace("\n", "\n# "))
rc, _, err = sh(["sweep", farm, f"sweep.dir={D}/farm_x", "sweep.ranks_per_case=3"], 2)
check(rc == 2 and "ranks_per_case = 3" in err, "ranks_per_case above the rank count is refused")

# A case the solver rejects (its initial-condition file is missing: only running it finds out)
# does not stop the others.
fail = cfg("fail", f"method = grid\nvary = heat.kappa=0.5|1, heat.initial=constant(0)|"
                   f"{D}/nosuch.h5:/T", heat="dims = 1\nn = 32\nscheme = explicit")
rc, out, err = sh(["sweep", fail], 2)
m = manifest(f"{D}/fail")
st = [r["status"] for r in m]
check(rc == 1 and st == ["done", "failed", "done", "failed"] and
      "nosuch.h5" in m[1]["error"] and "2 failed" in out,
      "failing cases are recorded with their error, the others finish, exit status 1")
check(os.path.exists(f"{D}/fail/case_0002.h5") and not os.path.exists(f"{D}/fail/case_0003.h5"),
      "a failed case leaves no file under its final name")
rc, out, err = sh(["sweep", fail])
check(rc == 2 and "--resume" in err, "running again without --resume refuses to overwrite")
with h5py.File(f"{D}/nosuch.h5", "w") as f:  # the cause fixed: the file now exists
    f["T"] = np.zeros(32)
rc, out, err = sh(["sweep", fail, "--resume"])
check(rc == 0 and all(r["status"] == "done" for r in manifest(f"{D}/fail")),
      "--resume after fixing the cause runs the failed cases")

# ------------------------------------------------------------------ interruption
slow = cfg("slow", "method = lhs\nsamples = 8\nseed = 2\nvary = heat.kappa:0.5:1.0",
           heat="dims = 2\nn = 128, 128\nscheme = explicit\nsource = gaussian(0.5,0.5,0.1,20)",
           run="t_end = 0.1\noutput_every = 2000")
sref = f"{D}/slow_ref"
rc, _, _ = sh(["sweep", slow, f"sweep.dir={sref}"], 2)
check(rc == 0, "uninterrupted reference sweep (2 ranks)")


def start_and_wait(args, ranks, nfiles, d):
    cmd = MPIRUN + ["-n", str(ranks), KELVIN] + args if ranks > 1 else [KELVIN] + args
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 60 and p.poll() is None:
        if len([f for f in os.listdir(d) if f.startswith("case_") and f.endswith(".h5")]
               if os.path.isdir(d) else []) >= nfiles:
            break
        time.sleep(0.02)
    return p


d = f"{D}/slow_kill"
p = start_and_wait(["sweep", slow, f"sweep.dir={d}"], 2, 2, d)
running = p.poll() is None
# mpirun's ranks need not share its process group: kill them first, then mpirun.
subprocess.run(["pkill", "-KILL", "-f", f"sweep.dir={d}"])
os.killpg(p.pid, signal.SIGKILL)
p.wait()
time.sleep(0.2)
m = manifest(d)
files = sorted(f for f in os.listdir(d) if f.startswith("case_") and f.endswith(".h5"))
check(running and len(m) == 8 and 0 < len(files) < 8,
      f"kill -9 mid-sweep: stopped with {len(files)} of 8 case files, manifest readable")
check(all(complete(f"{d}/{f}") for f in files),
      "after kill -9 no incomplete file sits under a final name")
check(all(os.path.exists(f"{d}/{r['output']}") and complete(f"{d}/{r['output']}")
          for r in m if r["status"] == "done"), "after kill -9 every case the manifest calls "
      "done has a complete file")
rc, out, err = sh(["sweep", slow, f"sweep.dir={d}", "--resume"], 2)
check(rc == 0 and f"({len(files)} already done)" in out,
      "--resume skips the finished cases (checked by opening them) and completes the sweep")
check(all(same_files(f"{sref}/case_{c:04d}.h5", f"{d}/case_{c:04d}.h5") for c in range(8)),
      "killed + resumed sweep: every case file identical to the uninterrupted sweep")
check(all(r["status"] == "done" for r in manifest(d)), "resumed manifest: all done")

d = f"{D}/slow_term"
p = start_and_wait(["sweep", slow, f"sweep.dir={d}"], 1, 1, d)
p.send_signal(signal.SIGTERM)
out, err = p.communicate(timeout=60)
m = manifest(d)
nd = sum(r["status"] == "done" for r in m)
check(p.returncode == 3 and "--resume" in err and 0 < nd < 8 and
      all(r["status"] in ("done", "pending") for r in m),
      f"SIGTERM: clean stop (exit 3), manifest has {nd} done and the rest pending, says --resume")
# The printed hint, copied and run verbatim: it must carry the sweep.dir override, or it would
# resume another sweep.
hint = re.search(r"continue with: (.*)$", err, re.M)
hint = hint.group(1).strip() if hint else ""
check(f"sweep.dir={d}" in hint and hint.endswith("--resume"),
      f"the hint repeats the whole command, overrides included: {hint}")
q = subprocess.run(["bash", "-c", hint], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
rc = q.returncode
check(rc == 0 and all(same_files(f"{sref}/case_{c:04d}.h5", f"{d}/case_{c:04d}.h5")
                      for c in range(8)) and
      not [f for f in os.listdir(d) if "interrupted" in f],
      "SIGTERM + the printed hint run verbatim: identical files, the interrupted leftovers removed")

# ------------------------------------------------------------------ slices, Slurm script
d = f"{D}/sliced"
rc0, _, _ = sh(["sweep", farm, f"sweep.dir={d}", "--slice", "0/3"])
m0 = manifest(d, "manifest.slice-0-of-3")
check(rc0 == 0 and [r["case"] for r in m0] == ["0", "3", "6"],
      "--slice 0/3 runs cases 0, 3, 6 and keeps its own manifest")
rc, out, _ = sh(["sweep", farm, f"sweep.dir={d}", "--collect"])
check(rc == 1 and "4 pending" in out, "--collect with slices missing: exit 1, 4 pending")
for i in (1, 2):
    sh(["sweep", farm, f"sweep.dir={d}", "--slice", f"{i}/3"], 2)
rc, out, _ = sh(["sweep", farm, f"sweep.dir={d}", "--collect"])
check(rc == 0 and all(r["status"] == "done" for r in manifest(d)) and len(manifest(d)) == 7 and
      all(same_files(f"{ref}/case_{c:04d}.h5", f"{d}/case_{c:04d}.h5") for c in range(7)),
      "all slices + --collect: merged manifest all done, files identical to one sweep")

d = f"{D}/slurm"
job = os.path.join(OUT, "sweep_job.sh")
rc, out, err = sh(["sweep", farm, f"sweep.dir={d}", "--emit-slurm", job, "--array", "3",
                   "--ranks-per-task", "2", "--time", "00:10:00", "--partition", "debug"])
text = open(job).read() if os.path.exists(job) else ""
check(rc == 0 and "#SBATCH --array=0-2" in text and "#SBATCH --ntasks=2" in text and
      "#SBATCH --time=00:10:00" in text and "#SBATCH --partition=debug" in text and
      '--slice "${SLURM_ARRAY_TASK_ID}/3" --resume' in text and f"sweep.dir={d}" in text,
      "--emit-slurm writes an array script: tasks, ranks, time, partition, slice + resume")
check(subprocess.run(["bash", "-n", job]).returncode == 0 and os.access(job, os.X_OK),
      "the Slurm script is valid bash and executable")
bad_time = sh(["sweep", farm, "--emit-slurm", job, "--time", "10 min"])
check(bad_time[0] == 2 and "D-H:M:S" in bad_time[2], "--time is checked: " +
      bad_time[2].strip()[-120:])
ok_time = sh(["sweep", farm, "--emit-slurm", job + ".day.sh", "--time", "1-12:00:00"])
check(ok_time[0] == 0 and "#SBATCH --time=1-12:00:00" in open(job + ".day.sh").read(),
      "--time takes sbatch's D-H:M:S form")
# Run the array tasks by hand, the way Slurm would, twice (a resubmission after a time-out).
env = dict(os.environ, SLURM_NTASKS="1")
ok = True
for i in range(3):
    ok &= subprocess.run(["bash", job], env=dict(env, SLURM_ARRAY_TASK_ID=str(i)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
os.remove(f"{d}/case_0004.h5")
mtime = os.path.getmtime(f"{d}/case_0003.h5")
for i in range(3):
    ok &= subprocess.run(["bash", job], env=dict(env, SLURM_ARRAY_TASK_ID=str(i)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
rc, out, _ = sh(["sweep", farm, f"sweep.dir={d}", "--collect"])
check(ok and rc == 0 and os.path.getmtime(f"{d}/case_0003.h5") == mtime and
      all(same_files(f"{ref}/case_{c:04d}.h5", f"{d}/case_{c:04d}.h5") for c in range(7)),
      "the script's tasks run by hand, resubmitted after losing a case: only that case reruns; "
      "--collect finds all done")

finish()
