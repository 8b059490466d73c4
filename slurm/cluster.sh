#!/usr/bin/env bash
# A throw-away, REAL Slurm cluster on this one machine (tests; trying the sbatch scripts locally).
#
#   eval "$(slurm/cluster.sh up [--nodes 1|2] [--gpus N[,M]] [--dir DIR])"   # prints: export SLURM_CONF=...
#   slurm/cluster.sh status [--dir DIR]
#   slurm/cluster.sh down   [--dir DIR]
#   --gpus N[,M]: declare N (n1) and M (n2; default N) GPUs as a count-only `gpu` GRES (no devices:
#   jobs get the allocation and SLURM_GPUS_* but no CUDA_VISIBLE_DEVICES binding).
#
# Everything (config, state, spool, logs, PID files) lives under DIR
# (default ${NETFT_SLURM_DIR:-/tmp/netft-slurm}); nothing under /etc or /var is written, except
# that `up` installs the Debian packages if missing. Each node is a slurmd in its own UTS+mount
# namespace (hostname n1/n2, private /etc/hosts), so `srun hostname` prints the node name.
# `down` stops only what `up` started: the PIDs in DIR/run and the processes inside the node
# namespaces recorded there (slurmstepd + job tasks). Never by process name.
# Only the export line goes to stdout; progress and errors go to stderr. Needs root (unshare,
# SlurmUser=root). See docs/slurm-local.md.
set -euo pipefail

PROG=$(basename "$0")
CTLD_PORT=${NETFT_SLURMCTLD_PORT:-16817}  # unusual ports: no clash with a real cluster's 6817/6818
SLURMD_PORT0=${NETFT_SLURMD_PORT:-17001}  # node i listens on SLURMD_PORT0 + i - 1
UP_TIMEOUT=${NETFT_SLURM_UP_TIMEOUT:-60}

log() { echo "[$PROG] $*" >&2; }
die() { echo "[$PROG] ERROR: $*" >&2; exit 1; }
# usage [RC]: the header's command lines; to stdout for --help (exit 0), else to stderr.
usage() {
  local rc=${1:-2}
  if [ "$rc" = 0 ]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  else sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; fi
  exit "$rc"
}

CMD=${1:-}
case "$CMD" in
  -h|--help|help) usage 0 ;;
  up|down|status) ;;
  "") usage ;;
  *) echo "[$PROG] ERROR: unknown command '$CMD' (up, down or status)" >&2; usage ;;
esac
shift
NODES=1
GPUS=
DIR=${NETFT_SLURM_DIR:-/tmp/netft-slurm}
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:-}; shift; [ $# -eq 0 ] || shift ;;
    --nodes=*) NODES=${1#*=}; shift ;;
    --dir) DIR=${2:-}; shift; [ $# -eq 0 ] || shift ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --gpus) GPUS=${2:-}; shift; [ $# -eq 0 ] || shift ;;
    --gpus=*) GPUS=${1#*=}; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
case "$NODES" in 1|2) ;; *) die "--nodes must be 1 or 2 (got '$NODES')" ;; esac
# GPUS: "" (no GRES at all, as before) or N or N,M: per-node GPU counts (n2 defaults to n1's).
GPU_N1=0 GPU_N2=0
if [ -n "$GPUS" ]; then
  [[ "$GPUS" =~ ^[0-9]+(,[0-9]+)?$ ]] || die "--gpus must be N or N,M (GPUs on n1, n2), got '$GPUS'"
  GPU_N1=${GPUS%%,*}
  GPU_N2=${GPUS#*,}
fi
[ -n "$DIR" ] || die "--dir is empty"
if [ ! -d "$DIR" ]; then
  # Only 'up' creates DIR; without it nothing of ours can be running.
  case "$CMD" in
    up) mkdir -p "$DIR" || die "cannot create $DIR" ;;
    down) log "nothing to stop ($DIR does not exist)"; exit 0 ;;
    status) echo "not running ($DIR does not exist)"; exit 1 ;;
  esac
fi
DIR=$(cd "$DIR" 2>/dev/null && pwd -P) || die "cannot use directory $DIR"
CONF=$DIR/etc/slurm.conf
RUN=$DIR/run
export SLURM_CONF=$CONF  # every client command below talks to this cluster only

# --- process helpers (PID files + /proc; never by name) ---------------------------------------

# running PID: PID exists and is not a zombie. Daemons end up children of PID 1, and an init that
# reaps slowly (or never, in some containers) would otherwise make a stopped daemon look alive.
running() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# pid_alive FILE COMM: the PID in FILE is running and its comm is COMM (guards against PID reuse).
pid_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && running "$pid"
}

# ns_id PID: "mnt-inode:uts-inode" of PID's namespaces; the pair identifies one node's namespaces.
ns_id() { echo "$(stat -L -c %i "/proc/$1/ns/mnt"):$(stat -L -c %i "/proc/$1/ns/uts")"; }

# ns_pids NSID: PIDs of all processes in that node namespace (slurmd, slurmstepd, job tasks).
ns_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$(ns_id "$p" 2>/dev/null)" = "$1" ] && running "$p" && echo "$p"
  done
  return 0
}

# host_nsid: our own namespaces; a recorded node namespace must never equal these.
HOST_NSID=$(ns_id $$)

# stop_pids TIMEOUT PID...: SIGTERM, wait, then SIGKILL what is left.
stop_pids() {
  local t=$1 p i left; shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do
    left=()
    for p in "$@"; do running "$p" && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  log "SIGKILL ${left[*]} (did not exit on SIGTERM within ${t}s)"
  kill -KILL "${left[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    left=()
    for p in "$@"; do running "$p" && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
}

# --- state of this DIR -------------------------------------------------------------------------

node_names() { local i; for ((i = 1; i <= $1; i++)); do echo "n$i"; done; }

# is_up N: slurmctld and all N slurmd recorded in DIR are alive.
is_up() {
  local n
  pid_alive "$RUN/slurmctld.pid" slurmctld || return 1
  for n in $(node_names "$1"); do pid_alive "$RUN/slurmd-$n.pid" slurmd || return 1; done
}

recorded_nodes() { cat "$RUN/nodes" 2>/dev/null || echo 0; }

anything_running() {
  local f
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    case "$f" in
      */slurmctld.pid) pid_alive "$f" slurmctld && return 0 ;;
      */slurmscriptd.pid) pid_alive "$f" slurmscriptd && return 0 ;;
      */slurmd-*.pid) pid_alive "$f" slurmd && return 0 ;;
    esac
  done
  for f in "$RUN"/*.ns; do
    [ -e "$f" ] || continue
    [ -n "$(ns_pids "$(cat "$f")")" ] && return 0
  done
  return 1
}

log_tail() {
  local f
  for f in "$DIR"/log/*.log; do
    [ -e "$f" ] || continue
    echo "----- tail $f" >&2
    tail -n 25 "$f" >&2
  done
}

# --- down --------------------------------------------------------------------------------------

cmd_down() {
  local f nsid pids=() p
  # Nodes first: slurmd + everything in its namespaces (slurmstepd and job tasks outlive slurmd).
  for f in "$RUN"/slurmd-*.ns; do
    [ -e "$f" ] || continue
    nsid=$(cat "$f")
    [ "$nsid" != "$HOST_NSID" ] || { log "refusing: $f names this shell's own namespaces"; continue; }
    while read -r p; do [ -n "$p" ] && pids+=("$p"); done < <(ns_pids "$nsid")
  done
  # A slurmd whose namespaces were not recorded (up interrupted): its PID file still counts.
  for f in "$RUN"/slurmd-*.pid; do
    [ -e "$f" ] && pid_alive "$f" slurmd && pids+=("$(cat "$f")")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
    log "stopping slurmd + job processes: ${pids[*]}"
    stop_pids 15 "${pids[@]}"
  fi
  # Controller last (it would otherwise mark nodes down / requeue while they stop).
  pids=()
  pid_alive "$RUN/slurmctld.pid" slurmctld && pids+=("$(cat "$RUN/slurmctld.pid")")
  pid_alive "$RUN/slurmscriptd.pid" slurmscriptd && pids+=("$(cat "$RUN/slurmscriptd.pid")")
  if [ ${#pids[@]} -gt 0 ]; then
    log "stopping slurmctld: ${pids[*]}"
    stop_pids 15 "${pids[@]}"
  fi
  # slurmscriptd (forked by slurmctld) normally exits with it; stop it if it outlived it.
  if pid_alive "$RUN/slurmscriptd.pid" slurmscriptd; then stop_pids 5 "$(cat "$RUN/slurmscriptd.pid")"; fi
  rm -f "$RUN"/*.pid "$RUN"/*.ns "$RUN/nodes" "$RUN/gpus"
  if anything_running; then die "something of this cluster is still running (see $RUN)"; fi
  log "down ($DIR)"
}

# --- up ----------------------------------------------------------------------------------------

install_packages() {
  local missing=() p
  for p in slurmctld slurmd slurm-client; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # Try with the current package lists first (fast); refresh them only if that fails.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$DIR/apt.log" 2>&1 ||
    { apt-get update -qq >>"$DIR/apt.log" 2>&1 &&
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$DIR/apt.log" 2>&1; } ||
    { tail -n 20 "$DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: $DIR/apt.log)"; }
}

write_conf() {
  local host=$1 n i nodes_csv mem g cpus gres
  nodes_csv=$(node_names "$NODES" | paste -sd, -)
  # RealMemory: the whole machine per node (config_overrides lets nodes overcommit), so scripts
  # asking for --mem=... still fit; memory is not a consumable resource here (CR_Core).
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  cat >"$CONF" <<EOF
# Written by slurm/cluster.sh up --nodes $NODES; regenerated on every fresh 'up'.
ClusterName=netft
# slurmctld checks SlurmctldHost against the real short hostname; the address avoids DNS.
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT0
# No munge: no auth (a single-machine, single-user throw-away cluster).
AuthType=auth/none
CredType=cred/none
# Requeued jobs wait for the old credential to expire (default 120 s); 10 s keeps requeue fast.
AuthInfo=cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=${NETFT_SLURMD_DEBUG:-info}
# No cgroups needed (works in containers/VMs without a delegated cgroup tree).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
# Nodes may declare more CPUs than the machine has (CPUs=4: 2 tasks x 2 cpus fit on one node).
SlurmdParameters=config_overrides
MailProg=/bin/true
ReturnToService=2
# Impossible requests fail at submit time instead of pending forever (sbatch --wait would hang).
EnforcePartLimits=ALL
# Finished jobs leave slurmctld after 4 s, which makes sbatch --wait poll every ~2 s.
MinJobAge=4
# Re-run the scheduler every 5 s (requeued jobs start sooner).
SchedulerParameters=sched_interval=5
JobRequeue=1
EOF
  # GPUs as a count-only generic resource: Slurm allocates and accounts them (--gpus-per-node,
  # --gres=gpu:N, SLURM_GPUS_ON_NODE) but there are no device files, so nothing is bound
  # (no CUDA_VISIBLE_DEVICES, no device cgroup). AutoDetect=off: never probe NVML here.
  rm -f "$DIR/etc/gres.conf"
  if [ -n "$GPUS" ]; then
    echo "GresTypes=gpu" >>"$CONF"
    : >"$DIR/etc/gres.conf"
  fi
  i=0
  for n in $(node_names "$NODES"); do
    g=$([ "$n" = n1 ] && echo "$GPU_N1" || echo "$GPU_N2")
    # CPUs: 4, or 4 per GPU (slurm/train.sh's default asks 4 CPUs per task, one task per GPU).
    cpus=$((g * 4 > 4 ? g * 4 : 4))
    gres=
    if [ "$g" -gt 0 ]; then
      gres=" Gres=gpu:$g"
      mkdir -p "$DIR/dev/$n"
      for ((d = 0; d < g; d++)); do ln -sfn /dev/null "$DIR/dev/$n/gpu$d"; done
      echo "NodeName=$n Name=gpu File=$DIR/dev/$n/gpu[0-$((g - 1))]" >>"$DIR/etc/gres.conf"
    fi
    echo "NodeName=$n NodeHostname=$n NodeAddr=127.0.0.1 Port=$((SLURMD_PORT0 + i)) CPUs=$cpus RealMemory=$mem$gres State=UNKNOWN" >>"$CONF"
    i=$((i + 1))
  done
  echo "PartitionName=debug Nodes=$nodes_csv Default=YES MaxTime=INFINITE State=UP" >>"$CONF"
}

# start_slurmd NAME: slurmd in new UTS+mount namespaces with hostname NAME and a private
# /etc/hosts (node names + controller host -> 127.0.0.1, also needed by torch's MASTER_ADDR=n1).
# unshare without --fork execs, and slurmd daemonizes and writes its own SlurmdPidFile, which is
# therefore slurmd's real PID. Job steps inherit the namespaces.
start_slurmd() {
  local n=$1 pidf=$RUN/slurmd-$1.pid i
  rm -f "$pidf"
  unshare --uts --mount sh -c '
    set -e
    hostname "$1"
    mount --bind "$2" /etc/hosts
    exec slurmd -f "$3" -N "$1" </dev/null >>"$4" 2>&1
  ' sh "$n" "$DIR/etc/hosts" "$CONF" "$DIR/log/slurmd-$n.stderr" ||
    die "slurmd $n failed to start"
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pidf" slurmd && break
    sleep 0.1
  done
  pid_alive "$pidf" slurmd || die "slurmd $n did not write a live PID to $pidf"
  ns_id "$(cat "$pidf")" >"$RUN/slurmd-$n.ns"
  [ "$(cat "$RUN/slurmd-$n.ns")" != "$HOST_NSID" ] || die "slurmd $n is not in its own namespaces"
}

cmd_up() {
  local host n i states idle pid ppid port
  [ "$(id -u)" = 0 ] || die "'up' needs root (unshare, bind mount, SlurmUser=root)"
  if is_up "$NODES" && [ "$(recorded_nodes)" = "$NODES" ] &&
     [ "$(cat "$RUN/gpus" 2>/dev/null)" = "$GPUS" ]; then
    log "already up with $NODES node(s)${GPUS:+, GPUs $GPUS} ($DIR)"
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  if anything_running; then
    log "a different/partial cluster is running in $DIR (nodes=$(recorded_nodes)); restarting it"
    cmd_down
  fi
  install_packages
  host=$(hostname -s)
  case "$host" in n1|n2) die "this machine's hostname '$host' clashes with the node names" ;; esac

  # A port already taken (e.g. a cluster from another --dir) would only show up in a daemon log.
  for ((i = 0; i <= NODES; i++)); do
    port=$((i == 0 ? CTLD_PORT : SLURMD_PORT0 + i - 1))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is in use (another cluster up in a different --dir? 'down' it, or set NETFT_SLURMCTLD_PORT / NETFT_SLURMD_PORT)"
    fi
  done

  # Fresh cluster every time: no stale jobs or node state from an earlier run.
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$RUN"
  mkdir -p "$DIR/etc" "$DIR/state" "$DIR/log" "$RUN"
  for n in $(node_names "$NODES"); do mkdir -p "$DIR/spool/$n"; done
  write_conf "$host"
  # Private hosts file for the node namespaces: our names first, then the machine's own entries.
  { echo "127.0.0.1 localhost $(node_names 2 | paste -sd' ' -) $host"
    grep -v -E '^\s*127\.0\.0\.1\s+localhost\s*$' /etc/hosts || true; } >"$DIR/etc/hosts"

  # On any failure from here on: show the logs and stop what we started.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log_tail; log "up failed; stopping what was started"; cmd_down || true; fi' EXIT

  log "starting slurmctld (port $CTLD_PORT)"
  slurmctld -f "$CONF" </dev/null >>"$DIR/log/slurmctld.stderr" 2>&1 || die "slurmctld failed to start"
  for ((i = 0; i < 100; i++)); do
    pid_alive "$RUN/slurmctld.pid" slurmctld && scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.2
  done
  pid_alive "$RUN/slurmctld.pid" slurmctld || die "slurmctld is not running"
  # slurmctld forks slurmscriptd; record it so 'down' can check it is gone too.
  pid=$(cat "$RUN/slurmctld.pid")
  for i in /proc/[0-9]*; do
    ppid=$(awk '{print $4}' "$i/stat" 2>/dev/null) || continue
    [ "$ppid" = "$pid" ] && [ "$(cat "$i/comm" 2>/dev/null)" = slurmscriptd ] && echo "${i#/proc/}" >"$RUN/slurmscriptd.pid"
  done

  for n in $(node_names "$NODES"); do
    log "starting slurmd $n (port $((SLURMD_PORT0 + ${n#n} - 1)))"
    start_slurmd "$n"
  done
  echo "$NODES" >"$RUN/nodes"
  echo "$GPUS" >"$RUN/gpus"

  for ((i = 0; i < UP_TIMEOUT * 2; i++)); do
    states=$(sinfo -h -N -o '%N %t' 2>/dev/null || true)
    idle=$(awk '$2 == "idle"' <<<"$states" | wc -l)
    [ "$idle" -eq "$NODES" ] && break
    sleep 0.5
  done
  if [ "$idle" -ne "$NODES" ]; then
    echo "sinfo: $states" >&2
    die "nodes not idle after ${UP_TIMEOUT}s"
  fi
  trap - EXIT
  log "up: $NODES node(s) idle ($DIR)"
  echo "export SLURM_CONF=$CONF"
}

# --- status ------------------------------------------------------------------------------------

cmd_status() {
  if ! is_up "$(recorded_nodes)" || [ "$(recorded_nodes)" = 0 ]; then
    echo "not running ($DIR)"
    anything_running && echo "(partial: some processes of it are alive; run '$PROG down')"
    return 1
  fi
  echo "SLURM_CONF=$CONF"
  sinfo
  squeue
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) usage ;;
esac
