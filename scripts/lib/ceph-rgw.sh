#!/usr/bin/env bash
# A real S3 object store for the scenarios and tests: a one-node Ceph cluster (one mon, one OSD,
# one RADOS Gateway) from Debian's packages, under a private directory, on 127.0.0.1 (and, when
# asked, one more address of a namespace the caller made), nowhere else.
#
#   eval "$(bash scripts/lib/ceph-rgw.sh start)"   # ~20 s; prints the exports below on stdout
#   bash scripts/lib/ceph-rgw.sh env  [DIR]         # prints them again
#   bash scripts/lib/ceph-rgw.sh stop [DIR]         # kills every daemon, removes DIR
#
# Exports: CRIU_PIPES_RGW_DIR (the private dir; DIR defaults to it), CRIU_PIPES_S3_ENDPOINT
# (http://127.0.0.1:PORT), CRIU_PIPES_S3_BUCKET (an empty bucket made for the run),
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, and AWS_CONFIG_FILE /
# AWS_SHARED_CREDENTIALS_FILE pointing into DIR so that no profile of the machine's user leaks in.
#
# Settings (environment, at start):
#   CEPH_RGW_STORE  bluestore (default: a sparse file on disk) or memstore (RAM). Measured here
#                   (2 cores, 1 GiB stream, aws cli): bluestore starts in 20 s, uploads at
#                   80-200 MiB/s, downloads at 230-300 MiB/s, its OSD stays at ~55 MiB RSS idle;
#                   memstore starts in 16 s, uploads at ~108 MiB/s, downloads at ~330 MiB/s, and
#                   its OSD holds 1.5 x the data in RAM (3.1 GiB after 2 GiB). Bluestore is the
#                   default: it is what Ceph runs in production, memory does not grow with what
#                   the tests store on a machine shared with other jobs, and the sparse file
#                   takes only the disk that is written.
#   CEPH_RGW_NETNS  a network namespace (a name in /run/netns) to run the whole cluster in, e.g.
#                   the source "host" of scripts/lib/two-hosts.sh; the daemons then use that
#                   namespace's 127.0.0.1, and CRIU_PIPES_S3_NETNS names it.
#   CEPH_RGW_ADDR   one more address for the S3 endpoint (beast listens on 127.0.0.1 and on it),
#                   e.g. that host's veth address, so the other "host" can reach the store;
#                   CRIU_PIPES_S3_ENDPOINT then uses it.
#   CEPH_RGW_SIZE   capacity in GiB (default 8). A FULL STORE MAKES UPLOADS HANG instead of
#                   failing (and radosgw then ignores SIGTERM): size it for what a run writes,
#                   delete what you wrote, and put timeouts on clients.
#
# Everything a one-OSD cluster needs and each of its settings is explained beside it below.
# No ceph-mgr (S3 does not need it; `ceph health` then says MGR_DOWN, which does not matter),
# no systemd: each daemon is started by hand with our ceph.conf and writes its pid file in DIR.
set -euo pipefail
die() { echo "ceph-rgw: $*" >&2; exit 1; }
say() { echo "ceph-rgw: $*" >&2; }

# How long each step may take before start gives up (measured: mon 0.5 s, OSD up 7 s, rgw 16 s
# on an idle 2-core machine; a loaded one is several times slower).
STEP_TIMEOUT=180
# A daemon asked to stop that is still there after this many seconds is killed (radosgw
# ignores SIGTERM when it is stuck on a full store).
STOP_GRACE=10
# Ceph's command-line clients retry a mon they cannot reach for minutes: each call gets this.
CLI_TIMEOUT=60
RGW_NAME=criu-pipes       # the radosgw's name: client.rgw.$RGW_NAME
S3_USER=criu-pipes

# in_ns CMD...: CMD in the store's network namespace (if it has one).
in_ns() { if [ -n "$netns" ]; then nsenter --net="/run/netns/$netns" "$@"; else "$@"; fi; }
free_port() { in_ns /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_until SECONDS WHAT CMD...: polls CMD every 0.2 s.
wait_until() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${limit}s waiting for $what (logs: $dir/log)"
    sleep 0.2
  done
}

write_conf() {
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
# Loopback only: every daemon binds 127.0.0.1, msgr2 only (no legacy v1 port 6789).
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
keyring = $dir/keyring
run_dir = $dir/run
pid_file = $dir/run/\$name.pid
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
mon_cluster_log_file = $dir/log/cluster.log
crash_dir = $dir/crash
mon_data = $dir/mon/\$name
osd_data = $dir/osd/\$name
# One OSD holds every copy: pools of size 1, replicas chosen among OSDs, not hosts.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
# rgw makes 7+ pools; at the default 32 PGs each they exceed mon_max_pg_per_osd (250).
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
# The mon shuts itself down when its disk has less than mon_data_avail_crit % free (default 5,
# warning at 30): a shared build disk is often that full.
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[osd]
osd_objectstore = $store
# bluestore: a sparse file that bluestore creates itself in osd_data (do NOT name it with
# bluestore_block_path = \$osd_data/block: bluestore symlinks that name and mkfs fails, ELOOP).
bluestore_block_create = true
bluestore_block_size = $size_bytes
# memstore keeps the objects in RAM (about 1.5 x the data) up to this many bytes.
memstore_device_bytes = $size_bytes
# The OSD's cache grows to osd_memory_target (default 4 GiB); the machine is shared.
osd_memory_target = 1073741824

[client.rgw.$RGW_NAME]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port${addr:+ endpoint=$addr:$rgw_port}
rgw_data = $dir/rgw
# Deleted objects are freed by rgw's garbage collector, by default 2 h later: a test that
# writes and deletes a lot would fill the store first.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
EOF
}

start() {
  local store=${CEPH_RGW_STORE:-bluestore} size_gib=${CEPH_RGW_SIZE:-8}
  case $store in bluestore | memstore) ;; *) die "CEPH_RGW_STORE must be bluestore or memstore, not '$store'" ;; esac
  [[ $size_gib =~ ^[0-9]+$ ]] && [ "$size_gib" -ge 1 ] || die "CEPH_RGW_SIZE must be a whole number of GiB, not '$size_gib'"
  [ "$(id -u)" -eq 0 ] || die "needs root (the daemons, and the tests' CRIU)"
  for p in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    command -v $p >/dev/null || die "$p is missing: run scripts/setup.sh (scripts/install-ceph.sh)"
  done
  local size_bytes=$((size_gib << 30)) fsid osd_uuid mon_port rgw_port addr=${CEPH_RGW_ADDR:-}
  netns=${CEPH_RGW_NETNS:-}
  [ -z "$netns" ] || [ -e "/run/netns/$netns" ] || die "CEPH_RGW_NETNS: no network namespace /run/netns/$netns"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/criu-pipes-rgw.XXXXXX")
  chmod 700 "$dir"
  # A start that fails half-way leaves nothing running and no dir behind.
  trap 'rc=$?; if [ $rc -ne 0 ]; then say "start failed; stopping what was started"; stop_dir "$dir" >&2 || true; fi' EXIT
  mkdir -p "$dir"/{run,log,crash,mon,osd/osd.0,rgw,aws}
  fsid=$(uuidgen) osd_uuid=$(uuidgen) mon_port=$(free_port) rgw_port=$(free_port)
  write_conf
  export CEPH_CONF=$dir/ceph.conf
  local t0=$SECONDS

  # One keyring for every entity; the mon imports all of it at mkfs, so the OSD's and rgw's
  # keys exist in the cluster from the start.
  authtool "$dir/keyring" --create-keyring --gen-key -n mon. --cap mon 'allow *'
  authtool "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
  authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd'
  authtool "$dir/keyring" --gen-key -n client.rgw.$RGW_NAME --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw'
  monmaptool --create --enable-all-features --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  in_ns ceph-mon --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" 2>"$dir/log/mkfs-mon.err" ||
    { cat "$dir/log/mkfs-mon.err" >&2; die "ceph-mon --mkfs failed"; }
  in_ns ceph-mon -i a 2>>"$dir/log/mon.a.err" || die "ceph-mon did not start (see $dir/log/mon.a.log)"
  wait_until $STEP_TIMEOUT "the mon" in_ns timeout $CLI_TIMEOUT ceph mon stat
  say "mon up on 127.0.0.1:$mon_port after $((SECONDS - t0)) s"

  in_ns timeout $CLI_TIMEOUT ceph osd new "$osd_uuid" 0 >/dev/null || die "ceph osd new failed"
  authtool "$dir/osd/osd.0/keyring" --create-keyring -n osd.0 \
    --add-key "$(ceph-authtool -p -n osd.0 "$dir/keyring")"
  in_ns ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/mkfs-osd.out" 2>&1 ||
    { cat "$dir/log/mkfs-osd.out" >&2; die "ceph-osd --mkfs failed"; }
  in_ns ceph-osd -i 0 2>>"$dir/log/osd.0.err" || die "ceph-osd did not start (see $dir/log/osd.0.log)"
  wait_until $STEP_TIMEOUT "osd.0 up" osd_up_check
  say "osd.0 ($store, $size_gib GiB) up after $((SECONDS - t0)) s"

  in_ns radosgw -n client.rgw.$RGW_NAME 2>>"$dir/log/rgw.err" || die "radosgw did not start (see $dir/log/client.rgw.$RGW_NAME.log)"
  wait_until $STEP_TIMEOUT "radosgw on 127.0.0.1:$rgw_port" in_ns curl -s -o /dev/null "http://127.0.0.1:$rgw_port/"
  say "radosgw on 127.0.0.1${addr:+ and $addr}:$rgw_port${netns:+ in netns $netns} after $((SECONDS - t0)) s"

  local keys access secret
  keys=$(in_ns timeout $CLI_TIMEOUT radosgw-admin user create --uid=$S3_USER --display-name="criu-pipes tests" 2>"$dir/log/user-create.err") ||
    { cat "$dir/log/user-create.err" >&2; die "radosgw-admin user create failed"; }
  access=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["access_key"])' <<<"$keys")
  secret=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["secret_key"])' <<<"$keys")
  # The aws client reads profiles from these files: ours are empty but for the region.
  printf '[default]\nregion = us-east-1\n' >"$dir/aws/config"
  : >"$dir/aws/credentials"
  cat >"$dir/env" <<EOF
export CRIU_PIPES_RGW_DIR=$dir
export CRIU_PIPES_S3_ENDPOINT=http://${addr:-127.0.0.1}:$rgw_port
export CRIU_PIPES_S3_NETNS=$netns
export CRIU_PIPES_S3_BUCKET=criu-pipes-${fsid:0:8}
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$dir/aws/config
export AWS_SHARED_CREDENTIALS_FILE=$dir/aws/credentials
EOF
  # shellcheck disable=SC1091
  . "$dir/env"
  in_ns timeout $CLI_TIMEOUT /usr/bin/aws --endpoint-url "$CRIU_PIPES_S3_ENDPOINT" s3 mb "s3://$CRIU_PIPES_S3_BUCKET" >/dev/null ||
    die "could not create the bucket $CRIU_PIPES_S3_BUCKET"
  say "bucket s3://$CRIU_PIPES_S3_BUCKET ready at $CRIU_PIPES_S3_ENDPOINT after $((SECONDS - t0)) s (stop: bash $0 stop $dir)"
  trap - EXIT
  cat "$dir/env"
}

# authtool ARGS...: ceph-authtool, its chatter on stdout (our stdout is the exports) dropped.
authtool() { ceph-authtool "$@" >/dev/null; }
osd_up_check() { in_ns timeout $CLI_TIMEOUT ceph osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

# stop_dir DIR: TERM every daemon whose pid file is in DIR/run, KILL what is left after
# STOP_GRACE s, wait until each is gone, remove DIR.
stop_dir() {
  local d=$1 pids=() f p
  case $d in */criu-pipes-rgw.*) ;; *) die "$d is not a directory made by ceph-rgw.sh start" ;; esac
  [ -f "$d/ceph.conf" ] || die "$d is not a directory made by ceph-rgw.sh start (no ceph.conf)"
  for f in "$d"/run/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    # Only a Ceph daemon started with this dir's conf: a stale pid may belong to anything now.
    if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qE '(ceph-mon|ceph-osd|radosgw)'; then
      pids+=("$p")
    fi
  done
  [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  local end=$((SECONDS + STOP_GRACE))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null; do
      if [ $SECONDS -ge $end ]; then kill -KILL "$p" 2>/dev/null || true; fi
      sleep 0.1
    done
  done
  rm -rf "$d"
  say "stopped ${#pids[@]} daemons, removed $d"
}

netns=""
cmd=${1:-}
case $cmd in
  start) start ;;
  stop)
    d=${2:-${CRIU_PIPES_RGW_DIR:-}}
    [ -n "$d" ] || die "stop: which dir? (stop DIR, or CRIU_PIPES_RGW_DIR)"
    stop_dir "$d" ;;
  env)
    d=${2:-${CRIU_PIPES_RGW_DIR:-}}
    [ -n "$d" ] && [ -f "$d/env" ] || die "env: no running store (env DIR, or CRIU_PIPES_RGW_DIR)"
    cat "$d/env" ;;
  *) echo "usage: ceph-rgw.sh start | env [DIR] | stop [DIR]" >&2; exit 2 ;;
esac
