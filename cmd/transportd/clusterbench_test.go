package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
)

// TestClusterThroughput is issue 14's benchmark: it relays the same load
// (50 concurrent SMTP sessions, 4 KB messages, one message per session,
// smtp-source from the postfix package when installed, else an in-Go
// client) through a single server, whose queue is the local journal
// (fsync before 250), and through a three-member cluster on this
// machine, whose queue is JetStream R3 (250 after a quorum PubAck), once
// with Cluster.SyncAlways on (the default: every member fsyncs each write
// before it acks, so the PubAck means on two members' disks) and once off
// (NATS's sync_interval: data reaches two members' page cache before the
// ack and is fsynced every two minutes); TRANSPORTD_BENCH_SYNC=always or
// interval runs one of them.
// Both relay to a smart host on loopback and are drained before and
// after each run. It prints messages per second accepted (first
// connection to last 250) and delivered (to the last message at the
// smart host).
//
// Run it with TRANSPORTD_BENCH=1 (TRANSPORTD_BENCH_MESSAGES, 3000 by
// default): go test ./cmd/transportd -run TestClusterThroughput -v
func TestClusterThroughput(t *testing.T) {
	if os.Getenv("TRANSPORTD_BENCH") == "" {
		t.Skip("a benchmark: set TRANSPORTD_BENCH=1")
	}
	total := 3000
	if n, err := strconv.Atoi(os.Getenv("TRANSPORTD_BENCH_MESSAGES")); err == nil {
		total = n
	}
	sessions := 50
	if n, err := strconv.Atoi(os.Getenv("TRANSPORTD_BENCH_SESSIONS")); err == nil {
		sessions = n
	}
	host := &countingHost{}
	srv := gosmtp.NewServer(host)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	hl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hl)
	defer srv.Close()
	smart := fmt.Sprintf("[127.0.0.1]:%d", hl.Addr().(*net.TCPAddr).Port)
	relay := func(m *clusterMember) {
		if _, err := config.Update(m.cfg, func(x *config.Config) error {
			rc := &x.ReceiveConnectors[0]
			rc.AnonymousRelay = true
			rc.MaxInboundConnectionPerSource = 0
			rc.TarpitInterval = 0
			// No SPF lookups: tests never ask the machine's resolver (an
			// SPF query that times out costs each message ~150 ms).
			rc.SenderAuthenticationEnabled = false
			x.Transport.TransientFailureRetryInterval = value.TimeSpan(time.Second)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	delivered := func() int {
		return int(host.n.Load())
	}
	tool := "in-Go SMTP client"
	if _, err := exec.LookPath("smtp-source"); err == nil && os.Getenv("TRANSPORTD_BENCH_CLIENT") != "go" {
		tool = "smtp-source"
	}
	var ms []*clusterMember
	var single *clusterMember
	// run sends total messages over sessions connections spread over
	// addrs and waits until the smart host has them all.
	run := func(label string, addrs []string) string {
		base := delivered()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(addrs))
		for i, a := range addrs {
			n := total / len(addrs)
			s := sessions / len(addrs)
			if i < sessions%len(addrs) {
				s++
			}
			if i < total%len(addrs) {
				n++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- sendLoad(tool, a, s, n)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
		}
		accepted := time.Since(start)
		for deadline := time.Now().Add(20 * time.Second); delivered()-base < total && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond) // the smart host counts; no signal
		}
		if delivered()-base < total {
			for _, a := range addrs {
				for _, m := range append(ms, single) {
					if m != nil && m.smtp == a {
						t.Logf("%s queue:\n%s\n%s", m.name, tdrun(t, m.cfg, "", "queue", "get").stdout, tdrun(t, m.cfg, "", "message", "get").stdout)
					}
				}
			}
		}
		eventually(t, 10*time.Second, label+": every message at the smart host", func() string {
			if d := delivered() - base; d < total {
				return fmt.Sprintf("%d of %d delivered", d, total)
			}
			return ""
		})
		all := time.Since(start)
		return fmt.Sprintf("%-44s %6.0f msg/s accepted (%v)  %6.0f msg/s delivered (%v)",
			label, float64(total)/accepted.Seconds(), accepted.Round(time.Millisecond), float64(total)/all.Seconds(), all.Round(time.Millisecond))
	}

	var lines []string
	// One server: the journal.
	single = newClusterMember(t, 9)
	relay(single)
	single.start(t)
	ok(t, single.cfg, "", "sendconnector", "new", "-name", "Smart", "-addressspaces", "*", "-smarthosts", smart)
	eventually(t, 30*time.Second, "send connector Smart in force", func() string {
		if applied, err := os.ReadFile(config.AppliedFile(single.cfg)); err != nil || !strings.Contains(string(applied), "Smart") {
			return "not yet"
		}
		return ""
	})
	lines = append(lines, run("single server, journal (fsync before 250)", []string{single.smtp}))
	single.daemon.Process.Signal(os.Interrupt)
	single.daemon.Wait()

	// Three members on this machine: JetStream R3, with and without an
	// fsync before each ack.
	for _, mode := range []struct{ name, syncAlways, label string }{
		{"always", "$true", "three members, JetStream R3, fsync before ack"},
		{"interval", "$false", "three members, JetStream R3, fsync every 2 min"},
	} {
		if only := os.Getenv("TRANSPORTD_BENCH_SYNC"); only != "" && only != mode.name {
			continue
		}
		lines = append(lines, clusterThroughput(t, mode.syncAlways, smart, relay, func(members []*clusterMember) string {
			ms = members
			return run(mode.label, []string{ms[0].smtp, ms[1].smtp, ms[2].smtp})
		}))
	}

	report := fmt.Sprintf("%d messages of 4 KB, %d concurrent sessions (%s), one message per session, %d CPUs:\n", total, sessions, tool, runtime.NumCPU())
	for _, l := range lines {
		report += "  " + l + "\n"
	}
	t.Log(report)
	fmt.Print(report)
}

// clusterThroughput forms a cluster of three members with
// -SyncAlways syncAlways, relaying to smart, measures it with run and stops
// the members.
func clusterThroughput(t *testing.T, syncAlways, smart string, relay func(*clusterMember), run func([]*clusterMember) string) string {
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		m := newClusterMember(t, i)
		relay(m)
		ms = append(ms, m)
	}
	defer func() {
		for _, m := range ms {
			m.stop(t)
		}
	}()
	out := ok(t, ms[0].cfg, "", append([]string{"cluster", "new", "-Name", "contoso", "-SyncAlways", syncAlways}, ms[0].ports()...)...)
	token := tokenRE.FindString(out)
	ms[0].start(t)
	for _, m := range ms[1:] {
		ok(t, m.cfg, "", append([]string{"cluster", "join", token, "-SyncAlways", syncAlways}, m.ports()...)...)
		m.start(t)
	}
	eventually(t, 90*time.Second, "cluster formed, shared queue at three replicas", func() string {
		r := tdrun(t, ms[0].cfg, "", "cluster", "status")
		if r.code != 0 || !r3Queue.MatchString(r.stdout) {
			return r.stdout + r.stderr
		}
		return ""
	})
	want := "always: every write before its ack"
	if syncAlways == "$false" {
		want = "every 2m0s"
	}
	for _, m := range ms {
		if st := tdrun(t, m.cfg, "", "cluster", "status").stdout; !strings.Contains(st, want) {
			t.Fatalf("%s: cluster status does not say the fsync is %q:\n%s", m.name, want, st)
		}
	}
	ok(t, ms[0].cfg, "", "sendconnector", "new", "-name", "Smart", "-addressspaces", "*", "-smarthosts", smart)
	eventually(t, 30*time.Second, "send connector Smart in force on every member", func() string {
		for _, m := range ms {
			applied, err := os.ReadFile(config.AppliedFile(m.cfg))
			if err != nil || !strings.Contains(string(applied), "Smart") {
				return m.name + " has no send connector Smart yet"
			}
		}
		return ""
	})
	return run(ms)
}

// sendLoad sends n messages of 4 KB to addr over s concurrent sessions.
func sendLoad(tool, addr string, s, n int) error {
	if tool == "smtp-source" {
		host, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command("smtp-source", "-s", fmt.Sprint(s), "-m", fmt.Sprint(n), "-l", "4096",
			"-f", "app@contoso.com", "-t", "ops@example.org", "-S", "benchmark", fmt.Sprintf("inet:%s:%s", host, port))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("smtp-source: %v: %s", err, out)
		}
		return nil
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range s {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if rep := dataReply(addr, k); !queuedID.MatchString(rep) {
					mu.Lock()
					failed = fmt.Errorf("message %d: %q", k, rep)
					mu.Unlock()
				}
			}
		}()
	}
	for k := range n {
		work <- k
	}
	close(work)
	wg.Wait()
	return failed
}

var r3Queue = regexp.MustCompile(`stream TQ_QUEUE\s+Replicas\s*:\s*3\s`)

// countingHost is the benchmark's smart host: it counts the messages it
// is given.
type countingHost struct{ n atomic.Int64 }

func (h *countingHost) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return countingSession{h}, nil
}

type countingSession struct{ h *countingHost }

func (s countingSession) Reset()                                 {}
func (s countingSession) Logout() error                          { return nil }
func (s countingSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s countingSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s countingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.h.n.Add(1)
	return nil
}
