package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/transport/admin/config"
)

// clusterMember is one transportd process of a test cluster.
type clusterMember struct {
	name, cfg, smtp string
	client, route   int
	daemon          *exec.Cmd
}

// newClusterMember writes a configuration for member i (MAILi,
// maili.contoso.com) with one receive connector on a free loopback port.
func newClusterMember(t *testing.T, i int) *clusterMember {
	t.Helper()
	m := &clusterMember{name: fmt.Sprintf("MAIL%d", i), cfg: filepath.Join(t.TempDir(), "transportd.yaml"),
		smtp: fmt.Sprintf("127.0.0.1:%d", freePort(t)), client: freePort(t), route: freePort(t)}
	c := config.Defaults(fmt.Sprintf("mail%d.contoso.com", i))
	c.ReceiveConnectors = c.ReceiveConnectors[:1]
	rc := &c.ReceiveConnectors[0]
	rc.Name = "Default Frontend " + m.name
	rc.Bindings[0], rc.Bindings = mustAddrPort(m.smtp), rc.Bindings[:1]
	rc.RemoteIPRanges, _ = iprange.ParseList("127.0.0.1")
	if _, err := config.Load(m.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Update(m.cfg, func(x *config.Config) error {
		x.Server, x.ReceiveConnectors, x.AcceptedDomains = c.Server, c.ReceiveConnectors, c.AcceptedDomains
		x.Server.Name, x.AcceptedDomains[0].Name, x.AcceptedDomains[0].DomainName = m.name, "contoso.com", "contoso.com"
		x.Logging.MetricsAddress = ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// stop ends the member's daemon (SIGTERM) and waits for it.
func (m *clusterMember) stop(t *testing.T) {
	if m.daemon == nil {
		return
	}
	d := m.daemon
	m.daemon = nil
	d.Process.Signal(syscall.SIGTERM)
	stopping := time.Now()
	defer func() { t.Logf("%s stopped in %v", m.name, time.Since(stopping)) }()
	done := make(chan struct{})
	go func() { d.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.Process.Kill()
		<-done
	}
}

func (m *clusterMember) start(t *testing.T) {
	t.Helper()
	m.daemon = startDaemonProcess(t, m.cfg)
	t.Cleanup(func() { m.stop(t) })
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(m.cfg + ".log")
			for _, l := range strings.Split(string(log), "\n") {
				if strings.Contains(l, "sync") || strings.Contains(l, "configuration") || strings.Contains(l, "level=ERROR") {
					t.Logf("%s: %s", m.name, l)
				}
			}
		}
	})
	waitListening(t, m.smtp)
}

func (m *clusterMember) ports() []string {
	return []string{"-Address", "127.0.0.1", "-ClientPort", fmt.Sprint(m.client), "-RoutePort", fmt.Sprint(m.route)}
}

// eventually runs check every 100 ms until it returns "" or the deadline;
// the state it waits for is in other processes, which send no signal.
func eventually(t *testing.T, d time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var tokenRE = regexp.MustCompile(`TDJ1-[A-Za-z0-9_-]+`)

// TestClusterOfThreeProcesses forms a cluster of three real transportd
// processes on loopback with cluster new and cluster join, each running
// its embedded NATS; cluster status names the JetStream meta leader and
// Get-TransportService lists the three members Up. A send connector with
// a password and an accepted domain made with the CLI on member 1 are in
// force on members 2 and 3 within seconds, and the password is nowhere in
// clear in any member's JetStream store.
func TestClusterOfThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		ms = append(ms, newClusterMember(t, i))
	}
	a := ms[0]
	// The first member's organization is the cluster's, whichever member
	// comes up first.
	formCluster(t, ms, func(a *clusterMember) {
		ok(t, a.cfg, "", "accepteddomain", "new", "-name", "seed.contoso.com", "-domainname", "seed.contoso.com", "-domaintype", "Authoritative")
	})
	eventually(t, 40*time.Second, "cluster formed", func() string {
		r := tdrun(t, a.cfg, "", "cluster", "status")
		if r.code != 0 {
			return r.stderr
		}
		if !regexp.MustCompile(`MetaLeader\s*:\s*MAIL\d`).MatchString(r.stdout) || strings.Count(r.stdout, ": Up") < 3 {
			return r.stdout
		}
		return ""
	})
	t.Logf("cluster status on MAIL1:\n%s", ok(t, a.cfg, "", "cluster", "status"))
	svc := ok(t, ms[1].cfg, "", "transportservice", "get")
	for _, m := range ms {
		if !strings.Contains(svc, m.name) {
			t.Errorf("Get-TransportService on MAIL2 does not list %s:\n%s", m.name, svc)
		}
	}
	if got := ok(t, a.cfg, "", "transportservice", "get", "-Identity", "MAIL3"); !strings.Contains(got, "mail3.contoso.com") || strings.Contains(got, "MAIL2") {
		t.Errorf("Get-TransportService -Identity MAIL3 on MAIL1:\n%s", got)
	}

	for _, m := range ms[1:] {
		eventually(t, 20*time.Second, m.name+" takes the first member's organization", func() string {
			if applied, _ := os.ReadFile(config.AppliedFile(m.cfg)); !bytes.Contains(applied, []byte("seed.contoso.com")) {
				return "seed.contoso.com not in force"
			}
			return ""
		})
	}
	// Receive connectors are each member's own, named SERVER\Name.
	b := ms[1]
	if got := ok(t, b.cfg, "", "connector", "get", "-format", "list"); !strings.Contains(got, `MAIL2\Default Frontend MAIL2`) ||
		!regexp.MustCompile(`Server\s*:\s*MAIL2`).MatchString(got) {
		t.Errorf("Get-ReceiveConnector on MAIL2:\n%s", got)
	}
	ok(t, b.cfg, "", "connector", "set", "-identity", `MAIL2\Default Frontend MAIL2`, "-banner", "220 MAIL2 ready")
	if r := tdrun(t, b.cfg, "", "connector", "get", "-identity", `MAIL1\Default Frontend MAIL1`); r.code == 0 || !strings.Contains(r.stderr, "manage it on MAIL1") {
		t.Errorf("another member's connector on MAIL2: exit %d, %s", r.code, r.stderr)
	}

	const password = "Cl3arText-Never-In-The-Bucket"
	ok(t, a.cfg, "", "accepteddomain", "new", "-name", "fabrikam.com", "-domainname", "fabrikam.com", "-domaintype", "Authoritative")
	ok(t, a.cfg, password+"\n", "sendconnector", "new", "-name", "Smart", "-addressspaces", "*", "-smarthosts", "[127.0.0.1]:2525",
		"-smarthostauthmechanism", "BasicAuth", "-authenticationcredential", "relay@contoso.com", "-password", "-")
	began := time.Now()
	for _, m := range ms[1:] {
		eventually(t, 20*time.Second, m.name+" applies member 1's change", func() string {
			applied, err := os.ReadFile(config.AppliedFile(m.cfg))
			if err != nil || !bytes.Contains(applied, []byte("fabrikam.com")) || !bytes.Contains(applied, []byte("Smart")) {
				return "the configuration in force has no fabrikam.com or Smart yet"
			}
			c, err := config.Read(m.cfg)
			if err != nil {
				return err.Error()
			}
			for _, sc := range c.SendConnectors {
				if sc.Name == "Smart" && sc.AuthenticationCredential.Password == password {
					return ""
				}
			}
			return "send connector Smart without its password"
		})
	}
	t.Logf("change on MAIL1 in force on MAIL2 and MAIL3 after %v", time.Since(began))
	// Member 3's receive connector stays its own.
	if c, err := config.Read(ms[2].cfg); err != nil || len(c.ReceiveConnectors) != 1 || c.ReceiveConnectors[0].Name != "Default Frontend MAIL3" {
		t.Errorf("MAIL3's receive connectors changed: %v", err)
	}
	// A change on member 3 comes back to member 1.
	ok(t, ms[2].cfg, "", "accepteddomain", "remove", "-identity", "fabrikam.com")
	eventually(t, 20*time.Second, "MAIL1 applies MAIL3's change", func() string {
		applied, _ := os.ReadFile(config.AppliedFile(a.cfg))
		if bytes.Contains(applied, []byte("fabrikam.com")) {
			return "fabrikam.com still in force on MAIL1"
		}
		return ""
	})

	// A change made on member 2 while its daemon is down is published
	// when it starts again, not replaced by the cluster's.
	b.stop(t)
	ok(t, b.cfg, "", "accepteddomain", "new", "-name", "offline.contoso.com", "-domainname", "offline.contoso.com", "-domaintype", "Authoritative")
	b.start(t)
	eventually(t, 30*time.Second, "MAIL1 applies MAIL2's change made while it was down", func() string {
		if applied, _ := os.ReadFile(config.AppliedFile(a.cfg)); !bytes.Contains(applied, []byte("offline.contoso.com")) {
			return "offline.contoso.com not in force on MAIL1"
		}
		return ""
	})

	// Leaving: member 3 stops taking mail at once (with 421 4.3.2, not
	// a closed port), the others see it leaving, and its configuration
	// no longer names the cluster.
	c := ms[2]
	ok(t, c.cfg, "", "cluster", "leave")
	if g := greetingOf(c.smtp); !strings.HasPrefix(g, "421 4.3.2 mail3.contoso.com ") {
		t.Errorf("MAIL3 after cluster leave greets a new connection with %q, want 421 4.3.2", g)
	}
	eventually(t, 10*time.Second, "MAIL1 sees MAIL3 leaving", func() string {
		out := ok(t, a.cfg, "", "transportservice", "get", "-Identity", "MAIL3")
		if !regexp.MustCompile(`State\s*:\s*Leaving`).MatchString(out) {
			return out
		}
		return ""
	})
	if cfg, err := config.Read(c.cfg); err != nil || cfg.Clustered() {
		t.Errorf("MAIL3's configuration after leave: clustered %v, %v", cfg != nil && cfg.Clustered(), err)
	}

	for _, m := range ms {
		store := filepath.Join(filepath.Dir(m.cfg), "data", "cluster", "jetstream")
		found, size := false, int64(0)
		filepath.WalkDir(store, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			data, _ := os.ReadFile(p)
			if strings.Contains(p, "KV_transportd_config") {
				size += int64(len(data))
			}
			if bytes.Contains(data, []byte(password)) || bytes.Contains(data, []byte("fabrikam")) {
				found = true
				t.Errorf("%s: %s holds the configuration in clear", m.name, p)
			}
			return nil
		})
		if size == 0 && !found {
			t.Errorf("%s: no configuration bucket in %s (the check above proves nothing)", m.name, store)
		}
	}
}
