package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// fastRetries makes every retry wait a second, the quick retries used
// up or not, so that a message deferred for a while is delivered within
// seconds of its smart host accepting again.
func fastRetries(t *testing.T, path string) {
	t.Helper()
	if _, err := config.Update(path, func(x *config.Config) error {
		x.Transport.TransientFailureRetryInterval = value.TimeSpan(time.Second)
		x.Transport.MessageRetryInterval = value.TimeSpan(time.Second)
		x.Transport.OutboundConnectionFailureRetryInterval = value.TimeSpan(time.Second)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// queueMessages sends n messages to addr, each retried until it gets
// 250 (a member answers 451 while JetStream elects leaders), and returns
// their queue ids.
func queueMessages(t *testing.T, addr string, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		eventually(t, 60*time.Second, fmt.Sprintf("message %d queued on %s", i, addr), func() string {
			rep := dataReply(addr, i)
			if m := queuedID.FindStringSubmatch(rep); m != nil {
				ids = append(ids, m[1])
				return ""
			}
			return rep
		})
	}
	return ids
}

// waitDelivered waits until every id reached the smart host, and fails
// the test for each that reached it more than once.
func waitDelivered(t *testing.T, host *smartHost, ids []string, d time.Duration) {
	t.Helper()
	eventually(t, d, "every queued message delivered", func() string {
		for _, id := range ids {
			if host.count(id) == 0 {
				return id + " not delivered"
			}
		}
		return ""
	})
	for _, id := range ids {
		if n := host.count(id); n != 1 {
			t.Errorf("message %s delivered %d times, want exactly once", id, n)
		}
	}
}

// journalHolds opens the local journal of the (stopped) member with
// configuration cfg and returns the ids of the messages it holds.
func journalHolds(t *testing.T, cfg string) []string {
	t.Helper()
	c, err := config.Read(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(c.DataDir(), "queue"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	stored, err := j.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range stored {
		ids = append(ids, m.Envelope.ID)
	}
	return ids
}

// smtpSession is a session left open on a member, to see what a client
// in the middle of a conversation gets when the member starts leaving.
type smtpSession struct {
	c net.Conn
	r *bufio.Reader
}

func openSession(t *testing.T, addr string, cmds ...string) *smtpSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	s := &smtpSession{c: c, r: bufio.NewReader(c)}
	if g := s.reply(); !strings.HasPrefix(g, "220") {
		t.Fatalf("greeting of %s: %q", addr, g)
	}
	for _, cmd := range cmds {
		if rep := s.cmd(cmd); !strings.HasPrefix(rep, "250") {
			t.Fatalf("%s on %s: %q", cmd, addr, rep)
		}
	}
	return s
}

func (s *smtpSession) reply() string {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "read error: " + err.Error()
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimSpace(line)
		}
	}
}

func (s *smtpSession) cmd(line string) string {
	fmt.Fprintf(s.c, "%s\r\n", line)
	return s.reply()
}

// TestClusterLeaveWithQueuedMail is issue 14 point 6's leave, with three
// real transportd processes: MAIL3 holds messages its smart host defers
// when the admin runs `transportd cluster leave` on it. From then on a new
// connection to MAIL3 gets 421 4.3.2 and a session under way 451 4.3.2 at
// its next MAIL FROM, while the message a session had already addressed
// completes with 250. The other members list MAIL3 as Leaving and hold
// all its messages; when the smart host accepts, each is delivered
// exactly once. Stopped as the leave command advises, MAIL3 is no longer
// listed, and restarted alone it holds nothing.
func TestClusterLeaveWithQueuedMail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	host := startSmartHost(t)
	host.deferring.Store(true)
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		m := relayMember(t, i, host.port, time.Second)
		fastRetries(t, m.cfg)
		ms = append(ms, m)
		logOnFailure(t, m, 80)
	}
	a, c := ms[0], ms[2]
	token := formCluster(t, ms, nil)
	waitClusterUp(t, a, 90*time.Second, 3, "TQ_QUEUE", "TQ_BODY", "KV_TQ_MEMBERS")
	waitSharedQueueOpen(t, ms)
	waitInForce(t, ms, 30*time.Second, "Smart")

	const queued = 20
	ids := queueMessages(t, c.smtp, 0, queued)
	held := regexp.MustCompile(`Server\s*:\s*MAIL3`)
	eventually(t, 30*time.Second, "MAIL1 lists MAIL3's deferred messages", func() string {
		r := tdrun(t, a.cfg, "", "message", "get", "-server", "MAIL3", "-format", "list")
		if n := len(held.FindAllString(r.stdout, -1)); r.code != 0 || n < queued {
			return fmt.Sprintf("%d of %d listed: %s%s", n, queued, r.stdout, r.stderr)
		}
		return ""
	})

	// Two sessions under way on MAIL3: one has addressed a message, the
	// other has only said EHLO.
	addressed := openSession(t, c.smtp, "EHLO app.test", "MAIL FROM:<app@contoso.com>", "RCPT TO:<ops@example.org>")
	idle := openSession(t, c.smtp, "EHLO app.test")

	began := time.Now()
	out := ok(t, c.cfg, "", "cluster", "leave")
	t.Logf("cluster leave on MAIL3 took %v:\n%s", time.Since(began).Round(time.Millisecond), out)
	for _, want := range []string{"421 4.3.2", "systemctl stop transportd", "systemctl restart transportd"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster leave does not say %q:\n%s", want, out)
		}
	}
	if g := greetingOf(c.smtp); !strings.HasPrefix(g, "421 4.3.2 mail3.contoso.com Service not active") {
		t.Errorf("a new connection to MAIL3 after cluster leave: %q, want 421 4.3.2", g)
	}
	if rep := idle.cmd("MAIL FROM:<app@contoso.com>"); !strings.HasPrefix(rep, "451 4.3.2 ") {
		t.Errorf("MAIL FROM in a session under way on MAIL3 after cluster leave: %q, want 451 4.3.2", rep)
	}
	if rep := addressed.cmd("DATA"); !strings.HasPrefix(rep, "354") {
		t.Fatalf("DATA of the message addressed before the leave: %q", rep)
	}
	rep := addressed.cmd("Subject: addressed before the leave\r\n\r\nbody\r\n.")
	m := queuedID.FindStringSubmatch(rep)
	if m == nil {
		t.Fatalf("the message addressed before the leave: %q, want 250", rep)
	}
	ids = append(ids, m[1])
	addressed.cmd("QUIT")

	memberLeaving := regexp.MustCompile(`Identity\s*:\s*MAIL3\s+Fqdn\s*:\s*\S+\s+State\s*:\s*Leaving`)
	eventually(t, 10*time.Second, "MAIL1 and MAIL2 see MAIL3 leaving", func() string {
		for _, o := range ms[:2] {
			out := ok(t, o.cfg, "", "transportservice", "get", "-Identity", "MAIL3")
			if !regexp.MustCompile(`State\s*:\s*Leaving`).MatchString(out) {
				return o.name + ": " + out
			}
			if st := ok(t, o.cfg, "", "cluster", "status"); !memberLeaving.MatchString(st) {
				return o.name + " cluster status: " + st
			}
		}
		return ""
	})
	// The others hold every message MAIL3 held (and the one it accepted
	// while leaving): none is left with MAIL3.
	eventually(t, 60*time.Second, "MAIL1 and MAIL2 hold MAIL3's messages", func() string {
		r := tdrun(t, a.cfg, "", "message", "get", "-format", "list")
		if r.code != 0 {
			return r.stderr
		}
		if held.MatchString(r.stdout) {
			return "some still held by MAIL3:\n" + r.stdout
		}
		for _, id := range ids {
			if !regexp.MustCompile(`Identity\s*:\s*MAIL[12]\\\S+\\` + id + `\s`).MatchString(r.stdout) {
				return id + " not held by MAIL1 or MAIL2:\n" + r.stdout
			}
		}
		return ""
	})
	if g := greetingOf(c.smtp); !strings.HasPrefix(g, "421 4.3.2 ") {
		t.Errorf("MAIL3 once its queue is handed over: %q, want 421 4.3.2 still", g)
	}

	host.deferring.Store(false)
	waitDelivered(t, host, ids, 90*time.Second)
	t.Logf("all %d messages delivered exactly once %v after the leave began", len(ids), time.Since(began).Round(time.Millisecond))

	// Stopped as the leave command says, MAIL3 is gone from the list.
	c.stop(t)
	stopped := time.Now()
	for _, o := range ms[:2] {
		eventually(t, 20*time.Second, o.name+" no longer lists MAIL3", func() string {
			out := ok(t, o.cfg, "", "transportservice", "get")
			if strings.Contains(out, "MAIL3") {
				return out
			}
			if st := ok(t, o.cfg, "", "cluster", "status"); regexp.MustCompile(`Identity\s*:\s*MAIL3\s`).MatchString(st) {
				return "cluster status: " + st
			}
			return ""
		})
	}
	t.Logf("cluster status on MAIL1 once MAIL3 has stopped:\n%s", ok(t, a.cfg, "", "cluster", "status"))
	leftRemoved(t, ms[:2], "MAIL3", stopped)
	if ids := journalHolds(t, c.cfg); len(ids) != 0 {
		t.Errorf("MAIL3's local journal holds %v after the leave", ids)
	}
	// Restarted, it runs alone and holds nothing.
	c.start(t)
	if got := ok(t, c.cfg, "", "message", "get"); strings.Contains(got, `\`) {
		t.Errorf("MAIL3 restarted alone lists messages:\n%s", got)
	}
	if got := ok(t, c.cfg, "", "cluster", "status"); !strings.Contains(got, "not a cluster member") {
		t.Errorf("cluster status on MAIL3 restarted alone:\n%s", got)
	}

	// A member that joins afterwards takes MAIL3's place among the
	// replicas: the meta group and the queue's streams are back at three.
	d := relayMember(t, 4, host.port, time.Second)
	logOnFailure(t, d, 80)
	ok(t, d.cfg, "", append([]string{"cluster", "join", token}, d.ports()...)...)
	joined := time.Now()
	d.start(t)
	replacedBy(t, a, "MAIL4", joined, "TQ_QUEUE", "TQ_BODY")
}

// statusPeers returns the replicas the record identity ("" for the
// cluster's own record: its MetaPeers) lists in the output of cluster
// status, each as "NAME (state)", and the record's Replicas value.
func statusPeers(status, identity string) (peers []string, replicas string) {
	field, re := "MetaPeers", regexp.MustCompile(`(?s)Identity\s*:\s*contoso\s.*?MetaPeers\s*:\s*\{([^}]*)\}`)
	if identity != "" {
		field = "Peers"
		re = regexp.MustCompile(`(?s)Identity\s*:\s*` + regexp.QuoteMeta(identity) + `\s+Replicas\s*:\s*(\d+)\s.*?Peers\s*:\s*\{([^}]*)\}`)
	}
	m := re.FindStringSubmatch(status)
	if m == nil {
		return nil, ""
	}
	list := m[len(m)-1]
	if field == "Peers" {
		replicas = m[1]
	}
	return regexp.MustCompile(`[^\s,{}]+ \([^)]*\)`).FindAllString(list, -1), replicas
}

// leftRemoved waits until cluster status on each of ms lists name
// nowhere: not among the JetStream meta peers nor any stream's replicas
// (the meta leader removed it from JetStream), and logs how long after
// since it took.
func leftRemoved(t *testing.T, ms []*clusterMember, name string, since time.Time) {
	t.Helper()
	for _, o := range ms {
		eventually(t, 60*time.Second, o.name+" no longer counts "+name+" among the JetStream peers", func() string {
			r := tdrun(t, o.cfg, "", "cluster", "status")
			if r.code != 0 {
				return r.stdout + r.stderr
			}
			if meta, _ := statusPeers(r.stdout, ""); len(meta) == 0 || strings.Contains(r.stdout, name) {
				return "cluster status: " + r.stdout
			}
			return ""
		})
	}
	st := ok(t, ms[0].cfg, "", "cluster", "status")
	t.Logf("%s removed from JetStream %v after it stopped; cluster status on %s:\n%s", name, time.Since(since).Round(time.Millisecond), ms[0].name, st)
	meta, _ := statusPeers(st, "")
	if len(meta) != len(ms) {
		t.Errorf("meta peers %v, want the %d members left", meta, len(ms))
	}
}

// replacedBy waits until cluster status on m shows joiner among the meta
// peers and every stream in streams at three replicas, joiner one of
// them, all current, and logs how long after since it took.
func replacedBy(t *testing.T, m *clusterMember, joiner string, since time.Time, streams ...string) {
	t.Helper()
	current := regexp.MustCompile(`\((leader|current, lag 0)\)$`)
	eventually(t, 120*time.Second, joiner+" a replica of "+strings.Join(streams, ", "), func() string {
		r := tdrun(t, m.cfg, "", "cluster", "status")
		if r.code != 0 {
			return r.stdout + r.stderr
		}
		meta, _ := statusPeers(r.stdout, "")
		if len(meta) != 3 || !strings.Contains(strings.Join(meta, ","), joiner) {
			return fmt.Sprintf("meta peers %v: %s", meta, r.stdout)
		}
		for _, s := range streams {
			peers, replicas := statusPeers(r.stdout, "stream "+s)
			if replicas != "3" || len(peers) != 3 || !strings.Contains(strings.Join(peers, ","), joiner+" ") {
				return fmt.Sprintf("%s replicas %s peers %v: %s", s, replicas, peers, r.stdout)
			}
			for _, p := range peers {
				if !current.MatchString(p) {
					return fmt.Sprintf("%s replica %s not current: %s", s, p, r.stdout)
				}
			}
		}
		return ""
	})
	t.Logf("%s a current replica of %v %v after it joined; cluster status on %s:\n%s", joiner, streams,
		time.Since(since).Round(time.Millisecond), m.name, ok(t, m.cfg, "", "cluster", "status"))
}

// streamMessages returns the message count of stream name in the output
// of cluster status (-1 when it is not listed).
func streamMessages(status, name string) int {
	i := strings.Index(status, "stream "+name+"\n")
	if i < 0 {
		i = strings.Index(status, "stream "+name+" ")
	}
	if i < 0 {
		return -1
	}
	m := regexp.MustCompile(`Messages\s*:\s*(\d+)`).FindStringSubmatch(status[i:])
	if m == nil {
		return -1
	}
	n := 0
	fmt.Sscan(m[1], &n)
	return n
}

// TestStandaloneJoinsWithQueuedMail is issue 14 point 6's join, with
// three real transportd processes: MAIL3 runs alone (no Cluster section)
// with messages in its local journal that its smart host defers, and
// joins a running two-member cluster as the README says (transportd
// cluster join <token>, then a restart). It is killed with SIGKILL while
// it moves its journal into the shared queue and started again: every
// message is in the shared queue once, listed by Get-Message and
// Get-Queue on MAIL1, and delivered exactly once when the smart host
// accepts; MAIL3's local journal ends empty.
func TestStandaloneJoinsWithQueuedMail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	host := startSmartHost(t)
	host.deferring.Store(true)
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		m := relayMember(t, i, host.port, time.Second)
		fastRetries(t, m.cfg)
		ms = append(ms, m)
		logOnFailure(t, m, 80)
	}
	a, c := ms[0], ms[2]
	token := formCluster(t, ms[:2], nil)
	waitClusterUp(t, a, 90*time.Second, 2)

	// MAIL3 alone, its local journal filling up.
	c.start(t)
	const queued = 300
	ids := queueMessages(t, c.smtp, 0, queued)
	if got := ok(t, c.cfg, "", "queue", "get"); !strings.Contains(got, `MAIL3\Smart`) {
		t.Fatalf("MAIL3 alone has no queue Smart:\n%s", got)
	}

	// Joining, as the README says: cluster join, then a restart.
	out := ok(t, c.cfg, "", append([]string{"cluster", "join", token}, c.ports()...)...)
	t.Logf("cluster join on MAIL3 (running alone):\n%s", out)
	c.stop(t)
	c.start(t)
	// SIGKILL in the middle of the move: once the shared queue holds
	// records of MAIL3's messages (MAIL1's cluster status says so).
	eventually(t, 120*time.Second, "MAIL3 moving its journal into the shared queue", func() string {
		r := tdrun(t, a.cfg, "", "cluster", "status")
		if n := streamMessages(r.stdout, "TQ_QUEUE"); n <= 0 {
			return fmt.Sprintf("TQ_QUEUE holds %d records: %s", n, r.stdout+r.stderr)
		}
		return ""
	})
	c.daemon.Process.Signal(syscall.SIGKILL)
	c.daemon.Wait()
	c.daemon = nil
	left := journalHolds(t, c.cfg)
	t.Logf("MAIL3 killed with %d of %d messages still in its local journal", len(left), queued)
	if len(left) == 0 || len(left) == queued {
		t.Logf("the kill did not land in the middle of the move (the machine was faster or slower than the poll): the rest of the test still checks the move, once")
	}

	c.start(t)
	waitClusterUp(t, a, 120*time.Second, 3)
	eventually(t, 90*time.Second, "MAIL1 lists every message MAIL3 had queued, once", func() string {
		r := tdrun(t, a.cfg, "", "message", "get", "-format", "list")
		if r.code != 0 {
			return r.stderr
		}
		for _, id := range ids {
			if n := len(regexp.MustCompile(`Identity\s*:\s*MAIL\d\\\S+\\`+id+`\s`).FindAllString(r.stdout, -1)); n != 1 {
				return fmt.Sprintf("%s listed %d times", id, n)
			}
		}
		return ""
	})
	eventually(t, 30*time.Second, "Get-Queue on MAIL1 counts every message MAIL3 had queued", func() string {
		got := ok(t, a.cfg, "", "queue", "get", "-format", "list")
		n := 0
		for _, m := range regexp.MustCompile(`Identity\s*:\s*MAIL\d\\Smart\s[^|]*?MessageCount\s*:\s*(\d+)`).FindAllStringSubmatch(got, -1) {
			k := 0
			fmt.Sscan(m[1], &k)
			n += k
		}
		if n != queued {
			return fmt.Sprintf("%d messages in the Smart queues, want %d:\n%s", n, queued, got)
		}
		return ""
	})

	host.deferring.Store(false)
	waitDelivered(t, host, ids, 120*time.Second)
	c.stop(t)
	if left := journalHolds(t, c.cfg); len(left) != 0 {
		t.Errorf("MAIL3's local journal still holds %d messages after joining, e.g. %s", len(left), left[0])
	}
}

// TestClusterLeaveOfMemberOnItsJournal: in a cluster of two, each member
// queues on its own journal (no shared queue before three members), so
// `transportd cluster leave` on one has nothing to hand over: it says its
// messages stay with it, refuses new mail with 421 4.3.2, and goes on
// delivering them itself once its smart host accepts, each once.
func TestClusterLeaveOfMemberOnItsJournal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	host := startSmartHost(t)
	host.deferring.Store(true)
	var ms []*clusterMember
	for i := 1; i <= 2; i++ {
		m := relayMember(t, i, host.port, time.Second)
		fastRetries(t, m.cfg)
		ms = append(ms, m)
		logOnFailure(t, m, 60)
	}
	a, b := ms[0], ms[1]
	formCluster(t, ms, nil)
	waitClusterUp(t, a, 90*time.Second, 2)
	waitInForce(t, ms, 30*time.Second, "Smart")

	const queued = 5
	ids := queueMessages(t, b.smtp, 0, queued)
	if held := journalCount(t, b.cfg); held != queued {
		t.Fatalf("MAIL2's queue holds %d messages, want %d", held, queued)
	}
	out := ok(t, b.cfg, "", "cluster", "leave")
	t.Logf("cluster leave on MAIL2:\n%s", out)
	for _, want := range []string{"own journal", fmt.Sprintf("its %d queued message(s) stay", queued), "421 4.3.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster leave does not say %q:\n%s", want, out)
		}
	}
	if g := greetingOf(b.smtp); !strings.HasPrefix(g, "421 4.3.2 ") {
		t.Errorf("a new connection to MAIL2 after cluster leave: %q, want 421 4.3.2", g)
	}
	host.deferring.Store(false)
	waitDelivered(t, host, ids, 60*time.Second)
}

// journalCount is how many messages `transportd queue get` counts on the
// member with configuration cfg.
func journalCount(t *testing.T, cfg string) int {
	t.Helper()
	out := ok(t, cfg, "", "queue", "get", "-format", "json")
	var qs []struct{ MessageCount int }
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatalf("queue get: %v\n%s", err, out)
	}
	n := 0
	for _, q := range qs {
		n += q.MessageCount
	}
	return n
}
