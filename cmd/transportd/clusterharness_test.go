package main

// The shared setup of the tests that run several transportd processes as
// one cluster (issue 14): members relaying through a recording smart host
// on loopback, cluster new / token / join, and waiting until the shared
// queue is replicated. The member itself (clusterMember, start, stop,
// ports) is in cluster_test.go.

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// smartHost is a recording smart host on a loopback port that can defer
// every message with 451 (deferring) until the test lets it accept.
type smartHost struct {
	*recordingHost
	deferring atomic.Bool
	port      int
}

// startSmartHost starts a smart host that accepts and records every
// message; it stops with the test.
func startSmartHost(t *testing.T) *smartHost {
	t.Helper()
	h := &smartHost{recordingHost: &recordingHost{ids: map[string]int{}}}
	srv := gosmtp.NewServer(h)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return h
}

// NewSession implements gosmtp.Backend.
func (h *smartHost) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &deferringSession{recSession{h.recordingHost}, h}, nil
}

// deferringSession answers MAIL FROM with 451 while its host defers.
type deferringSession struct {
	recSession
	h *smartHost
}

func (s *deferringSession) Mail(string, *gosmtp.MailOptions) error {
	if s.h.deferring.Load() {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "smart host deferring (test)"}
	}
	return nil
}

// smartHosts is the SmartHosts value of a send connector to port.
func smartHosts(port int) string { return fmt.Sprintf("[127.0.0.1]:%d", port) }

// count returns how many times the smart host received message id.
func (h *recordingHost) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id]
}

// relayMember writes member i's configuration (newClusterMember) for
// relaying: its receive connector takes anonymous relay from loopback
// without tarpit, per-source limit or SPF lookups (the test machine has no
// DNS to ask), failed deliveries are retried after retry, and the send
// connector "Smart" sends everything to the smart host on smartPort. In
// the first member's configuration before cluster new it is the
// organization's: the others get it when they join.
func relayMember(t *testing.T, i, smartPort int, retry time.Duration) *clusterMember {
	t.Helper()
	m := newClusterMember(t, i)
	relayConfig(t, m.cfg, smartPort, retry)
	return m
}

// relayConfig makes the configuration at path relay through the smart
// host on smartPort (see relayMember).
func relayConfig(t *testing.T, path string, smartPort int, retry time.Duration) {
	t.Helper()
	if _, err := config.Update(path, func(x *config.Config) error {
		rc := &x.ReceiveConnectors[0]
		rc.AnonymousRelay = true
		rc.MaxInboundConnectionPerSource = 0
		rc.TarpitInterval = 0
		rc.SenderAuthenticationEnabled = false
		x.Transport.TransientFailureRetryInterval = value.TimeSpan(retry)
		out := sendconnector.New("Smart")
		out.AddressSpaces, _ = sendconnector.ParseAddressSpaces("*")
		if err := out.SmartHosts.UnmarshalText([]byte(smartHosts(smartPort))); err != nil {
			return err
		}
		out.DNSRoutingEnabled = false
		x.SendConnectors = append(x.SendConnectors, out)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// logOnFailure logs the last lines of m's daemon log when the test
// fails (always with TRANSPORTD_SHAREDQUEUE_LOGS set), and fails the test
// when the daemon, built with -race, reported a data race.
func logOnFailure(t *testing.T, m *clusterMember, lines int) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(m.cfg + ".log")
		if i := strings.Index(string(b), "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("%s: data race:\n%s", m.name, b[i:])
		}
		if t.Failed() || os.Getenv("TRANSPORTD_SHAREDQUEUE_LOGS") != "" {
			ls := strings.Split(strings.TrimSpace(string(b)), "\n")
			for _, l := range ls[max(0, len(ls)-lines):] {
				t.Logf("%s log: %.300s", m.name, l)
			}
		}
	})
}

// formCluster makes ms[0] the first member (cluster new), runs seed on
// its configuration (nil: nothing) and starts it, then joins and starts
// every other member with the token it printed, which it returns.
func formCluster(t *testing.T, ms []*clusterMember, seed func(first *clusterMember)) string {
	t.Helper()
	a := ms[0]
	out := ok(t, a.cfg, "", append([]string{"cluster", "new", "-Name", "contoso"}, a.ports()...)...)
	token := tokenRE.FindString(out)
	if token == "" {
		t.Fatalf("cluster new printed no join token:\n%s", out)
	}
	if seed != nil {
		seed(a)
	}
	a.start(t)
	for _, m := range ms[1:] {
		ok(t, m.cfg, "", append([]string{"cluster", "join", token}, m.ports()...)...)
		m.start(t)
	}
	return token
}

// waitClusterUp waits (up to d) until cluster status on m shows up
// members Up and every stream named in r3 at three replicas.
func waitClusterUp(t *testing.T, m *clusterMember, d time.Duration, up int, r3 ...string) {
	t.Helper()
	var res []*regexp.Regexp
	for _, st := range r3 {
		res = append(res, regexp.MustCompile(`stream `+st+`\s+Replicas\s*:\s*3\s`))
	}
	eventually(t, d, fmt.Sprintf("cluster formed (%d members Up), %v at three replicas", up, r3), func() string {
		r := tdrun(t, m.cfg, "", "cluster", "status")
		if r.code != 0 || strings.Count(r.stdout, ": Up") < up {
			return r.stdout + r.stderr
		}
		for _, re := range res {
			if !re.MatchString(r.stdout) {
				return r.stdout
			}
		}
		return ""
	})
}

// waitInForce waits until the configuration in force on every member of
// ms contains text (a change made on one member reached them all).
func waitInForce(t *testing.T, ms []*clusterMember, d time.Duration, text string) {
	t.Helper()
	eventually(t, d, text+" in force on every member", func() string {
		for _, m := range ms {
			applied, err := os.ReadFile(config.AppliedFile(m.cfg))
			if err != nil || !strings.Contains(string(applied), text) {
				return m.name + " does not have it yet"
			}
		}
		return ""
	})
}

// greetingOf connects to addr and returns the server's first reply line
// ("" when it could not connect or read one).
func greetingOf(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}
