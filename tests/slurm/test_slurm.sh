#!/usr/bin/env bash
# make test-slurm: a throwaway single-node Slurm (munged, slurmctld, slurmd from Debian's packages,
# configuration, state and logs in a temporary directory), the script of
# `kelvin sweep --emit-slurm` submitted to it, every case and the merged manifest checked, a
# resubmission after a lost case checked, and the daemons stopped. Needs root (the daemons run as
# root here); where it cannot start, it says why and counts as skipped, not passed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
KELVIN=${KELVIN:-$ROOT/bin/kelvin}
ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILED=1; }
skip() { echo "skip - slurm test not run: $*"; exit 0; }
FAILED=0

[ "$(id -u)" = 0 ] || skip "it must run as root to start slurmctld, slurmd and munged"
for b in munged slurmctld slurmd sbatch sinfo squeue; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
    skip "$b is not installed (apt-get install slurmctld slurmd slurm-client munge)"
done
export PATH="$PATH:/usr/sbin"

T=$(mktemp -d /tmp/kelvin-slurm.XXXXXX)
chmod 755 "$T" # munged wants its socket directory reachable by everyone
H=$(hostname -s)
PIDS=()
stop() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "$T/munged.pid" ] && kill "$(cat "$T/munged.pid")" 2>/dev/null
  wait 2>/dev/null
  if [ "$FAILED" = 0 ]; then rm -rf "$T"; else echo "# logs kept in $T"; fi
}
trap stop EXIT

dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$T/munge.key"
munged --force --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munged.seed" ||
  skip "munged did not start: $(tail -n 2 "$T/munged.log" 2>/dev/null)"

# Ports away from a real Slurm's 6817/6818, different per run.
P=$((20000 + ($$ % 20000)))
mkdir -p "$T/state" "$T/spool" "$T/runs"
: >"$T/plugstack.conf"
cat >"$T/slurm.conf" <<CONF
ClusterName=kelvintest
SlurmctldHost=$H
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$P
SlurmdPort=$((P + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
PlugStackConfig=$T/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$H CPUs=$(nproc) State=UNKNOWN
PartitionName=kelvintest Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -D -c -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$H" >"$T/slurmd.out" 2>&1 &
PIDS+=($!)
up=0
for _ in $(seq 1 60); do
  if [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; then up=1; break; fi
  sleep 0.5
done
[ "$up" = 1 ] || skip "the Slurm daemons did not come up in 30 s: $(tail -n 3 "$T/slurmctld.log" "$T/slurmd.log" 2>/dev/null | tr '\n' ' ')"
ok "a single-node Slurm is up (slurmctld + slurmd + munged in $T)"

CFG=$T/sweep.ini
cat >"$CFG" <<CONF
[run]
model = heat
t_end = 0.02
output_every = 25
[heat]
dims = 2
n = 24, 20
scheme = explicit
source = gaussian(0.5,0.5,0.1,20)
[sweep]
dir = $T/runs/slurm
method = sobol
samples = 8
seed = 4
vary = heat.kappa:0.2:1.0, heat.bc_value:0:1
[slurm]
setup = echo "kelvin-setup-ran on \$(hostname)"
mail_type = NONE
CONF
JOB=$T/job.sh
# Options a real cluster needs, forwarded: an account and a comment (--sbatch), a day-long
# limit in D-H:M:S form, a throttle, nodes and CPUs per task, the [slurm] preamble.
if "$KELVIN" -q sweep "$CFG" --emit-slurm "$JOB" --array 3 --ranks-per-task 2 --time 1-00:00:00 \
  --partition kelvintest --throttle 2 --nodes 1 --cpus-per-task 1 \
  --sbatch "--account=proj1 --comment=kelvin-test" >/dev/null; then
  ok "--emit-slurm wrote $JOB"
else
  fail "--emit-slurm failed"
  exit 1
fi
for want in "--array=0-2%2" "--time=1-00:00:00" "--account=proj1" "--comment=kelvin-test" \
  "--signal=B:TERM@" "--requeue" "--open-mode=append" "--cpus-per-task=1" "--nodes=1" \
  "--mail-type=NONE"; do
  grep -q -- "^#SBATCH $want" "$JOB" || fail "the script lacks #SBATCH $want"
done
grep -q "OMP_NUM_THREADS=" "$JOB" && ok "the script sets every #SBATCH option asked for and OMP_NUM_THREADS" ||
  fail "no OMP_NUM_THREADS in $JOB"
if timeout 300 sbatch --wait "$JOB" >"$T/sbatch.out" 2>&1; then
  ok "sbatch accepts the script; --wait: the 3 array tasks (2 MPI ranks each) ran and exited 0"
else
  fail "sbatch --wait failed: $(cat "$T/sbatch.out")"
fi
jid=$(grep -o '[0-9]\+' "$T/sbatch.out" | head -n 1)
info=$(scontrol show job "$jid" 2>/dev/null)
if grep -q "Account=proj1" <<<"$info" && grep -q "Comment=kelvin-test" <<<"$info" &&
  grep -q "TimeLimit=1-00:00:00" <<<"$info" && grep -q "Requeue=1" <<<"$info"; then
  ok "Slurm recorded the forwarded options (account, comment, 1-00:00:00 limit, requeue)"
else
  fail "scontrol show job $jid: $(head -c 600 <<<"$info")"
fi
grep -q "kelvin-setup-ran" "$T"/runs/slurm/slurm-*_0.out 2>/dev/null &&
  ok "slurm.setup ran before kelvin in every task" || fail "slurm.setup did not run"
n_out=$(ls "$T"/runs/slurm/slurm-*_*.out 2>/dev/null | wc -l)
[ "$n_out" = 3 ] && ok "one Slurm log per array task" || fail "expected 3 task logs, found $n_out"
if "$KELVIN" -q sweep "$CFG" --collect >"$T/collect.out" 2>&1 &&
  grep -q "8 done" "$T/collect.out"; then
  ok "--collect merges the 3 slice manifests: 8 of 8 done"
else
  fail "--collect: $(cat "$T/collect.out")"
fi
rows=$(grep -c ',done,' "$T/runs/slurm/manifest.csv" 2>/dev/null)
[ "$rows" = 8 ] && ok "merged manifest.csv has 8 done rows" || fail "manifest.csv has $rows done rows"

# The same sweep run here, without Slurm: every case file identical.
"$KELVIN" -q sweep "$CFG" sweep.dir="$T/runs/local" >/dev/null 2>&1
same=1
for c in 0 1 2 3 4 5 6 7; do
  f=$(printf 'case_%04d.h5' "$c")
  "$KELVIN" -q compare "$T/runs/slurm/$f" "$T/runs/local/$f" --rtol 0 --atol 0 >/dev/null 2>&1 || same=0
done
[ "$same" = 1 ] && ok "every case file from Slurm equals the local sweep's (zero tolerance)" ||
  fail "case files differ between Slurm and the local sweep"

# A time-out or a lost node: the same script resubmitted runs only what is missing.
rm -f "$T/runs/slurm/case_0005.h5"
before=$(stat -c %Y.%N "$T/runs/slurm/case_0001.h5" 2>/dev/null; sha256sum <"$T/runs/slurm/case_0001.h5")
if timeout 300 sbatch --wait "$JOB" >"$T/sbatch2.out" 2>&1 &&
  "$KELVIN" -q sweep "$CFG" --collect >"$T/collect2.out" 2>&1; then
  after=$(stat -c %Y.%N "$T/runs/slurm/case_0001.h5" 2>/dev/null; sha256sum <"$T/runs/slurm/case_0001.h5")
  if [ "$before" = "$after" ] && grep -q "8 done" "$T/collect2.out" &&
    "$KELVIN" -q compare "$T/runs/slurm/case_0005.h5" "$T/runs/local/case_0005.h5" --rtol 0 --atol 0 >/dev/null 2>&1; then
    ok "resubmitted after losing case 5: only it ran again, the sweep is complete"
  else
    fail "resubmission: $(cat "$T/collect2.out")"
  fi
else
  fail "resubmission failed: $(cat "$T/sbatch2.out" "$T/collect2.out" 2>/dev/null)"
fi
# The array and a dependent collect job, submitted by kelvin (afterany), with a key=value override
# that both jobs must carry.
CH=$T/chain.sh
if "$KELVIN" -q sweep "$CFG" sweep.dir="$T/runs/chain" --emit-slurm "$CH" --array 2 --time 10:00 \
  --collect-job --submit >"$T/submit.out" 2>&1 && grep -q "submitted the collect job" "$T/submit.out"; then
  ok "--collect-job --submit: the array and its collect job submitted ($(tr '\n' ' ' <"$T/submit.out"))"
  for _ in $(seq 1 300); do
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 1
  done
  rows=$(grep -c ',done,' "$T/runs/chain/manifest.csv" 2>/dev/null)
  if [ "$rows" = 8 ] && ls "$T"/runs/chain/slurm-collect-*.out >/dev/null 2>&1; then
    ok "the collect job ran after the array (afterany) and merged 8 of 8 cases"
  else
    fail "chain: manifest.csv has ${rows:-no} done rows; $(cat "$T"/runs/chain/slurm-collect-*.out 2>/dev/null | tail -n 3)"
  fi
else
  fail "--submit: $(cat "$T/submit.out")"
fi

# An external simulator of 2 tasks inside an allocation: external.launcher = auto starts it with
# srun (SLURM_JOB_ID is set), each task sees its rank, and the case completes.
cat >"$T/tasks.sh" <<'SH'
#!/bin/sh
echo "$SLURM_PROCID of $SLURM_NTASKS" >"task_$SLURM_PROCID"
[ "$SLURM_PROCID" = 0 ] && echo "ntasks $SLURM_NTASKS" >"$1"
exit 0
SH
chmod +x "$T/tasks.sh"
cat >"$T/ext.ini" <<CONF
[run]
model = external
[external]
command = $T/tasks.sh {results}
inputs = x
responses = ntasks
ranks = 2
keep_workdirs = true
[sweep]
dir = $T/runs/ext
method = lhs
samples = 2
ranks_per_case = 1
vary = external.x:0:1
CONF
if timeout 300 sbatch --wait -n 2 -o "$T/ext.out" --wrap "$KELVIN -q sweep $T/ext.ini" \
  >"$T/ext.sbatch" 2>&1 && [ "$(grep -c ',done,' "$T/runs/ext/manifest.csv" 2>/dev/null)" = 2 ] &&
  grep -q ',done,.*,2,' "$T/runs/ext/manifest.csv" && [ -f "$T/runs/ext/work/case_0001/task_1" ]; then
  ok "an external simulator of 2 tasks runs under srun inside the allocation (launcher = auto)"
else
  fail "external under Slurm: $(cat "$T/ext.sbatch" "$T/ext.out" "$T/runs/ext/manifest.csv" 2>/dev/null | tail -n 5)"
fi
exit "$FAILED"
