package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// relayMembers writes the configurations of n members relaying anonymous
// mail from 127.0.0.1 to the smart host at hostPort (the send connector is
// the organization's: the first member's, the others get it on join).
func relayMembers(t *testing.T, n, hostPort int) []*clusterMember {
	t.Helper()
	var ms []*clusterMember
	for i := 1; i <= n; i++ {
		m := relayMember(t, i, hostPort, time.Second)
		fastRetries(t, m.cfg) // deferred for a while, retried at once
		ms = append(ms, m)
	}
	return ms
}

// statusField reads one field of a record of `cluster status`'s list
// output: the record whose Identity is identity.
func statusField(status, identity, field string) string {
	for _, rec := range strings.Split(status, "\n\n") {
		if !regexp.MustCompile(`(?m)^Identity\s*:\s*` + regexp.QuoteMeta(identity) + `\s*$`).MatchString(rec) {
			continue
		}
		if m := regexp.MustCompile(`(?m)^` + field + `\s*:\s*(.*?)\s*$`).FindStringSubmatch(rec); m != nil {
			return m[1]
		}
	}
	return ""
}

// formKillPoints are the moments TestClusterKillRightAfterForming kills a
// member at, and whom.
var formKillPoints = []string{"joining", "joiningseed", "r3", "r3later", "metaleader", "streamleader"}

// TestClusterKillRightAfterForming forms a cluster of three transportd
// processes exactly as the README does (cluster new, cluster join twice)
// and kills one member with SIGKILL right after forming: "joining" kills
// the third member as soon as the first sees it (while the streams scale
// from R1 to R3), "joiningseed" kills the first member then, "r3" kills it as soon as the queue streams are at three
// replicas, "r3later" 15 s after that (the moment the stalls were first
// seen), "metaleader" kills the JetStream meta leader then and
// "streamleader" the leader of TQ_QUEUE. The two survivors must answer
// 250 again within 30 s (a new leader, then quorum) and deliver every
// message the dead member accepted once its lease is over; no stream may
// stay without quorum. TRANSPORTD_FORMKILL_POINTS (comma-separated) and
// TRANSPORTD_FORMKILL_RUNS choose points and repetitions; by default one
// run of "joining" and one of "streamleader".
func TestClusterKillRightAfterForming(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons per run")
	}
	points := []string{"joining", "streamleader"}
	if p := os.Getenv("TRANSPORTD_FORMKILL_POINTS"); p == "all" {
		points = formKillPoints
	} else if p != "" {
		points = strings.Split(p, ",")
	}
	runs := 1
	if n, err := strconv.Atoi(os.Getenv("TRANSPORTD_FORMKILL_RUNS")); err == nil && n > 0 {
		runs = n
	}
	for _, p := range points {
		for r := 1; r <= runs; r++ {
			t.Run(fmt.Sprintf("%s/%d", p, r), func(t *testing.T) { killRightAfterForming(t, p) })
		}
	}
}

// waitSharedQueueOpen waits until every member has opened the shared
// queue (its log says so): a member queues on its own journal until it
// sees three members, and moves it in then.
func waitSharedQueueOpen(t *testing.T, ms []*clusterMember) {
	t.Helper()
	eventually(t, 60*time.Second, "every member on the shared queue", func() string {
		for _, m := range ms {
			if b, _ := os.ReadFile(m.cfg + ".log"); !strings.Contains(string(b), `msg="shared queue open"`) {
				return m.name + " not on the shared queue yet"
			}
		}
		return ""
	})
}

// keepLogs copies the members' logs to $TRANSPORTD_FORMKILL_LOGS, and on
// failure shows their warnings, errors and leader changes.
func keepLogs(t *testing.T, ms []*clusterMember) {
	t.Cleanup(func() {
		if dir := os.Getenv("TRANSPORTD_FORMKILL_LOGS"); dir != "" {
			for _, m := range ms {
				b, _ := os.ReadFile(m.cfg + ".log")
				os.WriteFile(fmt.Sprintf("%s/%s-%s.log", dir, strings.ReplaceAll(t.Name(), "/", "_"), m.name), b, 0o644)
			}
		}
		if t.Failed() {
			for _, m := range ms {
				b, _ := os.ReadFile(m.cfg + ".log")
				for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "leader") || strings.Contains(l, "scaled") {
						t.Logf("%s: %.300s", m.name, l)
					}
				}
			}
		}
	})
}

func killRightAfterForming(t *testing.T, point string) {
	host := startSmartHost(t)
	host.deferring.Store(true)
	ms := relayMembers(t, 3, host.port)
	keepLogs(t, ms)
	byName := map[string]*clusterMember{}
	for _, m := range ms {
		byName[m.name] = m
	}
	a := ms[0]
	token := tokenRE.FindString(ok(t, a.cfg, "", append([]string{"cluster", "new", "-Name", "contoso"}, a.ports()...)...))
	if token == "" {
		t.Fatal("cluster new printed no join token")
	}
	a.start(t)
	for _, m := range ms[1:] {
		ok(t, m.cfg, "", append([]string{"cluster", "join", token}, m.ports()...)...)
		m.start(t)
	}
	status := func(m *clusterMember) string {
		r := tdrun(t, m.cfg, "", "cluster", "status", "-format", "list")
		if r.code != 0 {
			return ""
		}
		return r.stdout
	}
	formed := time.Now()
	var st string
	switch point {
	case "joining", "joiningseed":
		eventually(t, 90*time.Second, "MAIL1 sees three members", func() string {
			st = status(a)
			if strings.Count(st, ": Up") < 3 {
				return st
			}
			return ""
		})
	default:
		eventually(t, 90*time.Second, "queue streams at three replicas", func() string {
			st = status(a)
			for _, s := range []string{"TQ_QUEUE", "TQ_BODY", "KV_TQ_MEMBERS"} {
				if statusField(st, "stream "+s, "Replicas") != "3" {
					return st
				}
			}
			if statusField(st, "stream TQ_QUEUE", "Leader") == "" || !strings.HasPrefix(statusField(st, a.name, "State"), "Up") {
				return st
			}
			return ""
		})
	}
	if !strings.HasPrefix(point, "joining") {
		// Each member moves its own journal into the shared queue once
		// it sees three members; what it accepted before that is on its
		// disk alone until then (the R1 warning), so the kill comes after.
		waitSharedQueueOpen(t, ms)
	}
	if point == "r3later" {
		time.Sleep(15 * time.Second) // the kill point itself: a while after R3
	}
	victim := ms[2]
	switch point {
	case "joiningseed":
		victim = a
	case "metaleader":
		victim = byName[strings.Fields(statusField(st, "contoso", "MetaLeader") + " ?")[0]]
	case "streamleader":
		victim = byName[statusField(st, "stream TQ_QUEUE", "Leader")]
	}
	if victim == nil {
		t.Fatalf("no member to kill at %s:\n%s", point, st)
	}
	// The victim takes a few messages (the smart host defers them all, so
	// they stay in the queue) and dies. At "joining" it may not have
	// moved to the shared queue yet: what it holds on its own journal
	// waits for it (counted, not required).
	var accepted, onVictim []string
	for n := 0; n < 5; n++ {
		if id := queuedID.FindStringSubmatch(dataReply(victim.smtp, n)); id != nil {
			onVictim = append(onVictim, id[1])
		}
	}
	if !strings.HasPrefix(point, "joining") {
		accepted = append(accepted, onVictim...)
	}
	victim.daemon.Process.Signal(syscall.SIGKILL)
	victim.daemon.Wait()
	victim.daemon = nil
	killed := time.Now()
	t.Logf("%s killed at %q %v after the last member started, with %d messages of its own queued", victim.name, point, killed.Sub(formed).Round(time.Millisecond), len(onVictim))
	var survivors []*clusterMember
	for _, m := range ms {
		if m != victim {
			survivors = append(survivors, m)
		}
	}
	// Both survivors answer 250 again.
	for _, m := range survivors {
		var last string
		eventually(t, 30*time.Second, m.name+" accepts mail after "+victim.name+" died", func() string {
			last = dataReply(m.smtp, 100)
			if queuedID.MatchString(last) {
				accepted = append(accepted, queuedID.FindStringSubmatch(last)[1])
				return ""
			}
			return last
		})
		t.Logf("%s answers 250 %v after the kill", m.name, time.Since(killed).Round(time.Millisecond))
	}
	host.deferring.Store(false)
	// Every message is delivered: the survivors' own, and the dead
	// member's once its 30 s lease is over.
	eventually(t, 90*time.Second, "every accepted message delivered", func() string {
		for _, id := range accepted {
			if host.count(id) == 0 {
				return id + " not delivered; MAIL status:\n" + status(survivors[0])
			}
		}
		return ""
	})
	n := 0
	for _, id := range onVictim {
		if host.count(id) > 0 {
			n++
		}
	}
	t.Logf("all %d required delivered %v after the kill; of the %d the victim accepted, %d delivered", len(accepted), time.Since(killed).Round(time.Millisecond), len(onVictim), n)
	for _, m := range survivors {
		b, _ := os.ReadFile(m.cfg + ".log")
		after := string(b)
		if n := strings.Count(after, "NO quorum, stalled"); n > 0 {
			t.Logf("%s logged %d 'NO quorum, stalled'", m.name, n)
		}
	}
}

// TestClusterLoneFirstMember: a first member alone (cluster new, nobody
// joined yet) accepts mail at once, with the loud warning, queues it on its
// own journal and delivers it. Mail it still holds when the two others
// join moves into the shared queue, created at three replicas, and is
// delivered once.
func TestClusterLoneFirstMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	host := startSmartHost(t)
	ms := relayMembers(t, 3, host.port)
	keepLogs(t, ms)
	a := ms[0]
	token := tokenRE.FindString(ok(t, a.cfg, "", append([]string{"cluster", "new", "-Name", "contoso"}, a.ports()...)...))
	if token == "" {
		t.Fatal("cluster new printed no join token")
	}
	a.start(t)
	rep := dataReply(a.smtp, 1)
	first := queuedID.FindStringSubmatch(rep)
	if first == nil {
		t.Fatalf("a lone first member answered %q, want 250", rep)
	}
	eventually(t, 30*time.Second, "the lone member delivers its message", func() string {
		if host.count(first[1]) == 0 {
			return first[1] + " not delivered"
		}
		return ""
	})
	if b, _ := os.ReadFile(a.cfg + ".log"); !strings.Contains(string(b), "WARNING: fewer than three cluster members: this member queues mail on its own disk") {
		t.Errorf("the lone member did not warn that its mail has one copy")
	}
	// Its cluster status answers at once, saying why there is no
	// JetStream yet, rather than timing out listing streams.
	if st := tdrun(t, a.cfg, "", "cluster", "status"); st.code != 0 || !strings.Contains(st.stdout, "a first member alone queues mail on its own journal") {
		t.Errorf("cluster status on a lone first member: %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	// Mail the lone member holds when the others join.
	host.deferring.Store(true)
	var held []string
	for n := 2; n < 12; n++ {
		if id := queuedID.FindStringSubmatch(dataReply(a.smtp, n)); id != nil {
			held = append(held, id[1])
		} else {
			t.Fatalf("the lone member refused message %d", n)
		}
	}
	for _, m := range ms[1:] {
		ok(t, m.cfg, "", append([]string{"cluster", "join", token}, m.ports()...)...)
		m.start(t)
	}
	eventually(t, 90*time.Second, "shared queue at three replicas, the lone member's journal moved in", func() string {
		r := tdrun(t, a.cfg, "", "cluster", "status", "-format", "list")
		if r.code != 0 {
			return r.stderr
		}
		if statusField(r.stdout, "stream TQ_QUEUE", "Replicas") != "3" || statusField(r.stdout, "stream TQ_QUEUE", "Messages") != fmt.Sprint(len(held)) {
			return r.stdout
		}
		return ""
	})
	host.deferring.Store(false)
	eventually(t, 60*time.Second, "the moved messages delivered", func() string {
		for _, id := range held {
			if host.count(id) == 0 {
				return id + " not delivered"
			}
		}
		return ""
	})
	b, _ := os.ReadFile(a.cfg + ".log")
	if strings.Contains(string(b), `stream scaled up" component=cluster stream=TQ_`) {
		t.Errorf("a queue stream was scaled up from R1: it should be created at R3")
	}
	for _, id := range append(held, first[1]) {
		if n := host.count(id); n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}
