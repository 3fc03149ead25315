#!/usr/bin/env bash
# Relay throughput: transportd against Postfix on the same machine, in one run,
# and both against the no-MTA ceiling of the harness.
#
# Both relay for 127.0.0.1 to the same smtp-sink smart host; smtp-source
# drives each with SESSIONS parallel sessions of SIZE-byte messages (250 after
# fsync on both sides). For every timed run we report:
#   accepted    MESSAGES / smtp-source's wall time (the last 250 received);
#   end-to-end  MESSAGES / the time until the sink has received all of them;
#   CPU time per message of transportd, and of the harness (smtp-source and
#   smtp-sink together) in the transportd run and in the no-MTA run.
# The ceiling is smtp-source straight into smtp-sink, no MTA between,
# measured right before and right after transportd's run in every round:
# transportd's share is against the mean of the two, so that a VM whose
# speed drifts between runs does not skew it (both are printed).
# Before every timed run both queues are drained (transportd's `queue get`
# and Postfix's `postqueue -p` empty, and the sink has counted every message
# sent so far), and the order alternates from round to round (ROUNDS, 3), so
# neither MTA inherits the other's backlog or always runs on a cooler machine.
# Needs root and Debian's postfix package (smtp-source, smtp-sink, postfix).
#
#   transport/bench/relay-bench.sh [MESSAGES] [SESSIONS] [SIZE]
#
# Environment: ROUNDS (3); TRANSPORTD=path uses that binary instead of
# building ./cmd/transportd; CPUPROFILE=file writes transportd's CPU profile
# of the whole run there (for `go tool pprof`).
set -euo pipefail
cd "$(dirname "$0")/../.."

MESSAGES=${1:-20000}
SESSIONS=${2:-50}
SIZE=${3:-4096}
ROUNDS=${ROUNDS:-3}

for tool in smtp-source smtp-sink postfix postqueue python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install postfix python3" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (postfix needs it)" >&2; exit 2; }

work=$(mktemp -d /var/tmp/transportd-bench.XXXXXX)
chmod 755 "$work" # postfix daemons run as postfix and must reach their queue
pids=()
td_pid=
cleanup() {
  [ -n "$td_pid" ] && kill "$td_pid" 2>/dev/null && wait "$td_pid" 2>/dev/null
  [ -n "${CPUPROFILE:-}" ] && [ -s "$work/cpu.pprof" ] && cp "$work/cpu.pprof" "$CPUPROFILE"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/pf/etc/main.cf" ] && postfix -c "$work/pf/etc" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
now() { date +%s.%N; }

SINK=$(free_port); TD=$(free_port); PF=$(free_port)

# The smart host both relay to. -c prints its running counters
# ("sess=N quit=N mesg=N", separated by CR) as messages arrive.
smtp-sink -c -u postfix 127.0.0.1:"$SINK" 2000 >"$work/sink.count" 2>/dev/null &
sink_pid=$!
pids+=($!)
wait_port "$SINK"
sink_count() { tail -c 200 "$work/sink.count" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1 | sed 's/^$/0/'; }
sent=0 # messages sent to the sink so far, directly or through an MTA

# transportd: a relay connector for 127.0.0.1 and a send connector to the sink.
td=${TRANSPORTD:-$work/transportd}
[ -n "${TRANSPORTD:-}" ] || go build -o "$td" ./cmd/transportd
cfg="$work/td/transportd.yaml"
mkdir -p "$work/td"
tdc() { "$td" -config "$cfg" "$@" >>"$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; exit 1; }; } # no STARTTLS warnings
tdc connector remove -identity "*"
tdc connector new -name "Bench Relay" -usage Custom -bindings 127.0.0.1:"$TD" \
  -remoteipranges 127.0.0.1 -permissiongroups AnonymousUsers -anonymousrelay '$true' \
  -maxinboundconnectionpersource Unlimited -tarpitinterval 00:00:00 -maxrecipientspermessage 1000
tdc sendconnector new -name Sink -addressspaces '*' -smarthosts "[127.0.0.1]:$SINK"
TRANSPORTD_CPUPROFILE=${CPUPROFILE:+$work/cpu.pprof} "$td" -config "$cfg" run >"$work/td.log" 2>&1 &
td_pid=$!
wait_port "$TD"

# Postfix: a private instance with the same job.
mkdir -p "$work/pf/etc" "$work/pf/queue" "$work/pf/data"
cp /etc/postfix/master.cf "$work/pf/etc/master.cf"
sed -i -E "s/^smtp( +)inet( +)n( +)-( +)[yn-]/127.0.0.1:$PF inet n - n/" "$work/pf/etc/master.cf"
cat >"$work/pf/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $work/pf/queue
data_directory = $work/pf/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
smtputf8_enable = no
default_process_limit = 200
maillog_file = $work/pf/maillog
CF
chown -R postfix "$work/pf/data"
postfix -c "$work/pf/etc" start >"$work/pf.start.log" 2>&1 || { cat "$work/pf.start.log" >&2; exit 1; }
wait_port "$PF"

# queues_empty: transportd's queues and Postfix's queue hold nothing.
queues_empty() {
  "$td" -config "$cfg" queue get -format json | python3 -c '
import json, sys
sys.exit(0 if sum(int(q.get("MessageCount", 0)) for q in json.load(sys.stdin)) == 0 else 1)' || return 1
  postqueue -c "$work/pf/etc" -p 2>/dev/null | grep -q "Mail queue is empty"
}

# drain waits until both queues are empty and the sink has every message
# sent so far; a stuck queue after 10 minutes is an error, not a result.
drain() {
  local deadline=$(($(date +%s) + 600))
  until [ "$(sink_count)" -ge "$sent" ] && queues_empty; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "queues did not drain: sink $(sink_count)/$sent" >&2; tail -20 "$work/td.log" >&2; exit 1; }
    sleep 0.2
  done
}

# td_cpu: CPU time transportd has used so far (user + system), in clock ticks;
# sink_cpu the same for smtp-sink.
td_cpu() { awk '{print $14 + $15}' /proc/"$td_pid"/stat; }
sink_cpu() { awk '{print $14 + $15}' /proc/"$sink_pid"/stat; }
TICK=$(getconf CLK_TCK)

# run PORT sets acc and e2e, in msg/s, and cpu, transportd's CPU time per
# message in microseconds (receiving and delivering; less noisy than the
# rates on a shared machine), and harness, the CPU time per message of
# smtp-source and smtp-sink together (what the MTA leaves of the 2 cores
# is 2 s per second minus harness x rate). End to end is polled (every
# 20 ms) since the sink gives no signal but its counter.
run() {
  local start t_acc t_e2e target cpu0 sink0 src
  drain
  target=$((sent + MESSAGES))
  cpu0=$(td_cpu) sink0=$(sink_cpu)
  start=$(now)
  src=$( { TIMEFORMAT='%U %S'; time smtp-source -c -s "$SESSIONS" -l "$SIZE" -m "$MESSAGES" -f app@contoso.com -t ops@example.org 127.0.0.1:"$1" >/dev/null; } 2>&1 )
  t_acc=$(now)
  sent=$target
  while [ "$(sink_count)" -lt "$target" ]; do sleep 0.02; done
  t_e2e=$(now)
  read -r acc e2e cpu harness < <(python3 -c "print(f'{$MESSAGES/($t_acc-$start):.0f} {$MESSAGES/($t_e2e-$start):.0f} {($(td_cpu)-$cpu0)*1e6/$TICK/$MESSAGES:.0f} {(($(sink_cpu)-$sink0)/$TICK+${src% *}+${src#* })*1e6/$MESSAGES:.0f}')")
}

# Warm up all three paths.
for port in "$TD" "$PF" "$SINK"; do
  smtp-source -s 10 -l "$SIZE" -m 500 -f app@contoso.com -t ops@example.org 127.0.0.1:"$port" >/dev/null
  sent=$((sent + 500))
done

# steal: the share of CPU time the hypervisor took from this VM since $1
# (a figure from steal_now); a high one means the machine's speed moved.
steal_now() { awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
steal_since() { read -r s0 t0 <<<"$1"; read -r s1 t1 < <(steal_now); python3 -c "print(f'{100*($s1-$s0)/max(1,$t1-$t0):.0f}%')"; }

echo "messages=$MESSAGES sessions=$SESSIONS size=$SIZE rounds=$ROUNDS cpus=$(nproc)"
printf '%-5s %-10s %7s %7s %7s %7s %15s %9s %9s %11s %11s %10s %13s %13s %6s  %s\n' round first td_acc td_e2e pf_acc pf_e2e "ceil(pre/post)" \
  td/pf_acc td/pf_e2e td/ceil_acc td/ceil_e2e td_cpu/msg td_harness/msg ceil_harness/msg steal "load (1, 5, 15 min)"
for r in $(seq 1 "$ROUNDS"); do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  st0=$(steal_now)
  if [ $((r % 2)) -eq 1 ]; then
    first=transportd
    run "$SINK"; ceil_pre=$acc ceil_h_pre=$harness
    run "$TD"; td_acc=$acc td_e2e=$e2e td_cpu=$cpu td_harness=$harness
    run "$SINK"; ceil_post=$acc ceil_h_post=$harness
    run "$PF"; pf_acc=$acc pf_e2e=$e2e
  else
    first=postfix
    run "$PF"; pf_acc=$acc pf_e2e=$e2e
    run "$SINK"; ceil_pre=$acc ceil_h_pre=$harness
    run "$TD"; td_acc=$acc td_e2e=$e2e td_cpu=$cpu td_harness=$harness
    run "$SINK"; ceil_post=$acc ceil_h_post=$harness
  fi
  steal=$(steal_since "$st0")
  python3 -c "
ceil = ($ceil_pre + $ceil_post) / 2
print('%-5s %-10s %7s %7s %7s %7s %15s %8.2fx %8.2fx %10.0f%% %10.0f%% %8s us %10s us %10.0f us %6s  %s' % ('$r', '$first', '$td_acc', '$td_e2e', '$pf_acc', '$pf_e2e', '$ceil_pre/$ceil_post',
  $td_acc/$pf_acc, $td_e2e/$pf_e2e, 100*$td_acc/ceil, 100*$td_e2e/ceil, '$td_cpu', '$td_harness', ($ceil_h_pre + $ceil_h_post) / 2, '$steal', '$load'))"
done
