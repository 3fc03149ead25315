#!/usr/bin/env bash
# Relay throughput: transportd against Postfix on the same machine, in one run.
#
# Both relay for 127.0.0.1 to the same smtp-sink smart host; smtp-source
# drives each with SESSIONS parallel sessions of SIZE-byte messages and we
# time how fast messages are accepted (250 after fsync on both sides).
# Needs root and Debian's postfix package (smtp-source, smtp-sink, postfix).
#
#   transport/bench/relay-bench.sh [MESSAGES] [SESSIONS] [SIZE]
set -euo pipefail
cd "$(dirname "$0")/../.."

MESSAGES=${1:-20000}
SESSIONS=${2:-50}
SIZE=${3:-4096}

for tool in smtp-source smtp-sink postfix; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install postfix" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (postfix needs it)" >&2; exit 2; }

work=$(mktemp -d /var/tmp/transportd-bench.XXXXXX)
chmod 755 "$work" # postfix daemons run as postfix and must reach their queue
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/pf/etc/main.cf" ] && postfix -c "$work/pf/etc" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

SINK=$(free_port); TD=$(free_port); PF=$(free_port)

# The smart host both relay to.
smtp-sink -u postfix -c 127.0.0.1:"$SINK" 2000 >/dev/null 2>&1 &
pids+=($!)
wait_port "$SINK"

# transportd: a relay connector for 127.0.0.1 and a send connector to the sink.
go build -o "$work/transportd" ./cmd/transportd
cfg="$work/td/transportd.yaml"
mkdir -p "$work/td"
"$work/transportd" -config "$cfg" connector remove -identity "*" >/dev/null
"$work/transportd" -config "$cfg" connector new -name "Bench Relay" -usage Custom -bindings 127.0.0.1:"$TD" \
  -remoteipranges 127.0.0.1 -permissiongroups AnonymousUsers -anonymousrelay '$true' \
  -maxinboundconnectionpersource Unlimited -tarpitinterval 00:00:00 -maxrecipientspermessage 1000 >/dev/null
"$work/transportd" -config "$cfg" sendconnector new -name Sink -addressspaces '*' -smarthosts "[127.0.0.1]:$SINK" >/dev/null
"$work/transportd" -config "$cfg" run >"$work/td.log" 2>&1 &
pids+=($!)
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

run_source() { # port -> msgs/s
  local start end
  start=$(date +%s.%N)
  smtp-source -c -s "$SESSIONS" -l "$SIZE" -m "$MESSAGES" -f app@contoso.com -t ops@example.org 127.0.0.1:"$1" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'{$MESSAGES/($end-$start):.0f}')"
}

# Warm up both, then measure.
smtp-source -s 10 -l "$SIZE" -m 500 -f app@contoso.com -t ops@example.org 127.0.0.1:"$TD" >/dev/null
smtp-source -s 10 -l "$SIZE" -m 500 -f app@contoso.com -t ops@example.org 127.0.0.1:"$PF" >/dev/null
td_rate=$(run_source "$TD")
pf_rate=$(run_source "$PF")
echo "messages=$MESSAGES sessions=$SESSIONS size=$SIZE"
echo "transportd accepted: $td_rate msg/s"
echo "postfix accepted:    $pf_rate msg/s"
python3 -c "print(f'ratio transportd/postfix: {$td_rate/$pf_rate:.2f}x')"
