#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for CI, for developers and for trying tlsweep's
# SLURM path on a laptop:
#
#   scripts/slurm-local.sh up        # install what is missing, start the daemons, print the
#                                    # `export SLURM_CONF=...` line (eval "$(... up)" works)
#   scripts/slurm-local.sh status    # daemons, nodes, queue
#   scripts/slurm-local.sh down      # cancel every job, then stop each daemon by its PID
#
# Debian packages (slurm-wlm munge mariadb-server slurmdbd); no systemd: each daemon runs from
# config and state in one directory (TLSWEEP_SLURM_DIR, default /tmp/tlsweep-slurm) on loopback
# ports starting at TLSWEEP_SLURM_PORT (default 16817), so it leaves a system SLURM, MariaDB or
# munge alone. Accounting (MariaDB + slurmdbd) is not optional: submitit asks `sacct` for the
# state of a finished job, and without it a cancelled job leaves `result()` waiting forever.
# Two partitions, `debug` (default) and `gpu`, so the repo's `hydra/launcher=slurm` preset
# submits unchanged but for `gpus_per_node`. Run as root. `up` is idempotent.
set -euo pipefail

DIR=${TLSWEEP_SLURM_DIR:-/tmp/tlsweep-slurm}
PORT=${TLSWEEP_SLURM_PORT:-16817}
CPUS=${TLSWEEP_SLURM_CPUS:-4} # job slots: 4 one-CPU trials at once, even on 2 cores
CLUSTER=tlsweep
PACKAGES=(slurm-wlm munge mariadb-server slurmdbd)
CTLD_PORT=$PORT SLURMD_PORT=$((PORT + 1)) DBD_PORT=$((PORT + 2)) DB_PORT=$((PORT + 3))
ETC=$DIR/etc RUN=$DIR/run LOG=$DIR/log
CONF=$ETC/slurm.conf
SOCK=$DIR/munge/munge.socket # its directory must be mode 0755 for slurmd's job steps
DB_SOCK=$RUN/mysqld.sock
export SLURM_CONF=$CONF

say() { echo "slurm-local: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# ---- processes: each daemon runs in the foreground of its own session; we keep its PID ----

alive() { # alive NAME: the daemon recorded in $RUN/NAME.pid is running
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$1"* ]] || return 1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] # a zombie has stopped
}

start() { # start NAME COMMAND...: run it detached, record its PID
  local name=$1
  shift
  if alive "$name"; then
    say "$name already running (pid $(cat "$RUN/$name.pid"))"
    return
  fi
  setsid "$@" >>"$LOG/$name.out" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  say "$name started (pid $!)"
}

wait_for() { # wait_for NAME SECONDS COMMAND...: until COMMAND succeeds or NAME died
  local name=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    alive "$name" || { tail -n 30 "$LOG/$name".* >&2 || true; die "$name exited; logs in $LOG"; }
    ((SECONDS < deadline)) || { tail -n 30 "$LOG/$name".* >&2 || true; die "$name not ready"; }
    sleep 0.2
  done
}

stop() { # stop NAME: TERM, then KILL after 20 s
  local name=$1 pid
  alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid=$(cat "$RUN/$name.pid")
  kill "$pid"
  for _ in $(seq 100); do
    alive "$name" || break
    sleep 0.1
  done
  alive "$name" && kill -9 "$pid"
  rm -f "$RUN/$name.pid"
  say "$name stopped (pid $pid)"
}

# ---- set-up ----

install_packages() {
  local missing=()
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null ||
    missing+=(slurm-wlm)
  command -v munged >/dev/null || missing+=(munge)
  command -v mariadbd >/dev/null || missing+=(mariadb-server)
  command -v slurmdbd >/dev/null || missing+=(slurmdbd)
  ((${#missing[@]})) || return 0
  ((EUID == 0)) || die "missing ${missing[*]}: run as root, or: apt-get install ${PACKAGES[*]}"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

real_memory() { # MiB the node offers: below what is free, or slurmd drains the node
  local free
  free=$(free -m | awk '/^Mem:/ {print $7}')
  echo $((free * 3 / 4))
}

write_configs() {
  [[ -f $CONF ]] && return
  local host mem
  host=$(hostname -s)
  mem=$(real_memory)
  cat >"$CONF" <<EOF
# written by scripts/slurm-local.sh: a one-node cluster on loopback
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$SOCK,cred_expire=10
StateSaveLocation=$DIR/state/ctld
SlurmdSpoolDir=$DIR/state/slurmd
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
KillWait=5
# reject at submission what this node can never run, instead of pending forever
EnforcePartLimits=ALL
InactiveLimit=0
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# the node may offer more CPUs than the machine has: slots for a few small trials at once
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$SOCK
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF
  cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.daemon.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$ETC/slurmdbd.conf" # slurmdbd refuses a world-readable config
}

start_munge() {
  [[ -f $DIR/munge/munge.key ]] || {
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
  }
  start munged munged -F --socket="$SOCK" --key-file="$DIR/munge/munge.key" \
    --pid-file="$RUN/munged.daemon.pid" --log-file="$LOG/munged.log" \
    --seed-file="$DIR/munge/munged.seed"
  wait_for munged 20 bash -c "munge -n -S '$SOCK' | unmunge -S '$SOCK'"
}

sql() { mariadb --no-defaults -S "$DB_SOCK" -u root "$@"; }

start_mariadb() {
  if [[ ! -d $DIR/mysql/mysql ]]; then
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/mysql" --skip-test-db \
      --auth-root-authentication-method=socket >>"$LOG/mariadbd.out" 2>&1 ||
      { tail -n 30 "$LOG/mariadbd.out" >&2; die "mariadb-install-db failed"; }
  fi
  start mariadbd mariadbd --no-defaults --user=root --datadir="$DIR/mysql" \
    --socket="$DB_SOCK" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$RUN/mariadbd.daemon.pid" --log-error="$LOG/mariadbd.log" \
    --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900
  wait_for mariadbd 60 sql -e "select 1"
  sql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

start_slurm() {
  start slurmdbd slurmdbd -D
  wait_for slurmdbd 60 sacctmgr -n list cluster
  sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" ||
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  start slurmctld slurmctld -D -i -f "$CONF" # after slurmdbd: it registers there on start
  wait_for slurmctld 60 scontrol ping
  start slurmd slurmd -D -f "$CONF"
  wait_for slurmd 60 bash -c "sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'"
}

up() {
  local t0=$SECONDS
  install_packages
  mkdir -p "$ETC" "$RUN" "$LOG" "$DIR/state/ctld" "$DIR/state/slurmd" "$DIR/munge"
  chmod 755 "$DIR" "$DIR/munge" # munged checks the socket dir; slurmstepd must reach it
  write_configs
  start_munge
  start_mariadb
  start_slurm
  say "up in $((SECONDS - t0)) s: $(sinfo -h -o '%P %D %c %m %t' | tr '\n' ';')"
  echo "export SLURM_CONF=$CONF"
}

down() {
  if alive slurmctld; then
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    for _ in $(seq 50); do # let their steps end before slurmd goes
      [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  # in dependency order; daemons that need nothing from each other stop together
  stop slurmd & stop slurmctld & wait
  stop slurmdbd
  stop mariadbd & stop munged & wait
}

status() {
  local name rc=0
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else
      echo "$name: stopped"
      rc=1
    fi
  done
  if alive slurmctld; then
    sinfo -N -o '%N %P %c %m %t'
    squeue -o '%i %P %j %T %M %R'
  fi
  echo "export SLURM_CONF=$CONF"
  return $rc
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
*)
  echo "usage: $0 up|down|status   (state in \$TLSWEEP_SLURM_DIR, default /tmp/tlsweep-slurm)" >&2
  exit 2
  ;;
esac
