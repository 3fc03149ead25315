package main

import (
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// startTwoMembers forms a cluster of two transportd processes (cluster new
// on the first, cluster join on the second) and waits until both are Up.
func startTwoMembers(t *testing.T) []*clusterMember {
	t.Helper()
	ms := []*clusterMember{newClusterMember(t, 1), newClusterMember(t, 2)}
	a := ms[0]
	token := tokenRE.FindString(ok(t, a.cfg, "", append([]string{"cluster", "new", "-Name", "contoso"}, a.ports()...)...))
	if token == "" {
		t.Fatal("cluster new printed no join token")
	}
	a.start(t)
	ok(t, ms[1].cfg, "", append([]string{"cluster", "join", token}, ms[1].ports()...)...)
	ms[1].start(t)
	eventually(t, 60*time.Second, "cluster of two formed", func() string {
		r := tdrun(t, a.cfg, "", "cluster", "status")
		if r.code != 0 || strings.Count(r.stdout, ": Up") < 2 {
			return r.stdout + r.stderr
		}
		return ""
	})
	return ms
}

// inForce is the value of a Transport setting in the configuration a
// member's daemon has in force.
func inForce(m *clusterMember, setting string) string {
	data, _ := os.ReadFile(config.AppliedFile(m.cfg))
	if f := regexp.MustCompile(`(?m)^\s+` + setting + `: (.*)$`).FindSubmatch(data); f != nil {
		return string(f[1])
	}
	return ""
}

// TestClusterConcurrentEdits: the two members' CLI change the organization
// at the same moment. Changes to different objects both end up in force on
// both members; two values of the same setting end up as one value on both
// members, and a command whose change lost says so, naming the other
// member and the fix (run the command again).
func TestClusterConcurrentEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	ms := startTwoMembers(t)
	a, b := ms[0], ms[1]
	both := func(fa, fb func() result) (result, result) {
		var ra, rb result
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ra = fa() }()
		go func() { defer wg.Done(); rb = fb() }()
		wg.Wait()
		return ra, rb
	}
	for round := range 3 {
		one, two := "one"+string(rune('a'+round))+".com", "two"+string(rune('a'+round))+".com"
		ra, rb := both(func() result {
			return tdrun(t, a.cfg, "", "accepteddomain", "new", "-name", one, "-domainname", one, "-domaintype", "Authoritative")
		}, func() result {
			return tdrun(t, b.cfg, "", "accepteddomain", "new", "-name", two, "-domainname", two, "-domaintype", "Authoritative")
		})
		if ra.code != 0 || rb.code != 0 {
			t.Fatalf("round %d: new accepted domains on both members at once: %s%s", round, ra.stderr, rb.stderr)
		}
		for _, m := range ms {
			eventually(t, 30*time.Second, m.name+" has both accepted domains in force", func() string {
				applied, _ := os.ReadFile(config.AppliedFile(m.cfg))
				if !strings.Contains(string(applied), one) || !strings.Contains(string(applied), two) {
					return "missing " + one + " or " + two
				}
				return ""
			})
		}

		sa, sb := []string{"11MB", "12MB", "13MB"}[round], []string{"21MB", "22MB", "23MB"}[round]
		ra, rb = both(func() result {
			return tdrun(t, a.cfg, "", "transportconfig", "set", "-MaxSendSize", sa)
		}, func() result {
			return tdrun(t, b.cfg, "", "transportconfig", "set", "-MaxSendSize", sb)
		})
		var final string
		eventually(t, 30*time.Second, "both members have one MaxSendSize in force", func() string {
			va, vb := inForce(a, "MaxSendSize"), inForce(b, "MaxSendSize")
			if va != vb || va == "" {
				return "MAIL1 " + va + ", MAIL2 " + vb
			}
			final = va
			return ""
		})
		lost := func(r result, other string) {
			t.Helper()
			if r.code == 0 {
				return
			}
			if !strings.Contains(r.stderr, "changed on "+other+" at the same time") || !strings.Contains(r.stderr, "run the command again") {
				t.Errorf("round %d: a lost change's error: %s", round, r.stderr)
			}
		}
		lost(ra, b.name)
		lost(rb, a.name)
		switch {
		case ra.code != 0 && rb.code != 0:
			t.Errorf("round %d: both changes refused:\n%s\n%s", round, ra.stderr, rb.stderr)
		case ra.code != 0 && !strings.Contains(final, strings.TrimSuffix(sb, "MB")):
			t.Errorf("round %d: MAIL1's change lost, but %s is in force (MAIL2 set %s)", round, final, sb)
		case rb.code != 0 && !strings.Contains(final, strings.TrimSuffix(sa, "MB")):
			t.Errorf("round %d: MAIL2's change lost, but %s is in force (MAIL1 set %s)", round, final, sa)
		}
		t.Logf("round %d: MAIL1 exit %d, MAIL2 exit %d, in force %s %s", round, ra.code, rb.code, final, strings.TrimSpace(ra.stderr+rb.stderr))
	}
}

// certLine finds the thumbprint of the certificate whose subject has
// subject in `cert get` output.
func certThumbprint(out, subject string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && strings.Contains(l, subject) {
			return f[0]
		}
	}
	return ""
}

// TestClusterCertificateRemoval: the certificate store is the
// organization's. A certificate made on MAIL1 is in MAIL2's store within
// seconds; removed on MAIL2, it is gone from MAIL1's. A certificate that
// MAIL2's receive connector serves is refused for removal on MAIL2 (its
// connector) and on MAIL1 (naming MAIL2), where it is also in the store.
func TestClusterCertificateRemoval(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	ms := startTwoMembers(t)
	a, b := ms[0], ms[1]
	ok(t, a.cfg, "", "cert", "new", "-SubjectName", "CN=spread.contoso.com", "-Services", "None")
	thumb := certThumbprint(ok(t, a.cfg, "", "cert", "get"), "CN=spread.contoso.com")
	if thumb == "" {
		t.Fatal("cert new made no certificate")
	}
	eventually(t, 30*time.Second, "MAIL2 has MAIL1's new certificate", func() string {
		if out := ok(t, b.cfg, "", "cert", "get"); !strings.Contains(out, thumb) {
			return out
		}
		return ""
	})
	ok(t, b.cfg, "", "cert", "remove", "-Thumbprint", thumb)
	eventually(t, 30*time.Second, "MAIL1 no longer has the certificate removed on MAIL2", func() string {
		if out := ok(t, a.cfg, "", "cert", "get"); strings.Contains(out, thumb) {
			return out
		}
		return ""
	})

	served := certThumbprint(ok(t, b.cfg, "", "cert", "get"), "mail2.contoso.com")
	if served == "" {
		t.Fatal("MAIL2 has no certificate for mail2.contoso.com")
	}
	if r := tdrun(t, b.cfg, "", "cert", "remove", "-Thumbprint", served); r.code == 0 || !strings.Contains(r.stderr, "Default Frontend MAIL2") ||
		!strings.Contains(r.stderr, "-TlsCertificateName") {
		t.Errorf("removing the certificate MAIL2's connector serves, on MAIL2: exit %d %s", r.code, r.stderr)
	}
	eventually(t, 30*time.Second, "MAIL1 refuses to remove the certificate MAIL2 serves", func() string {
		if out := ok(t, a.cfg, "", "cert", "get"); !strings.Contains(out, served) {
			return "MAIL2's certificate is not in MAIL1's store yet"
		}
		r := tdrun(t, a.cfg, "", "cert", "remove", "-Thumbprint", served)
		if r.code == 0 {
			t.Fatalf("MAIL1 removed the certificate MAIL2's connector serves: %s", r.stdout)
		}
		if !strings.Contains(r.stderr, "in use on MAIL2") {
			return r.stderr
		}
		return ""
	})
	if out := ok(t, b.cfg, "", "cert", "get"); !strings.Contains(out, served) {
		t.Errorf("MAIL2's served certificate is gone:\n%s", out)
	}
}

// TestClusterJoinTokens: cluster token -ValidFor makes a token that
// expires, -Rotate on one member revokes the tokens every member issued
// before, and cluster join with a revoked or expired token fails with the
// fix; a token issued after the rotation, on another member, joins.
func TestClusterJoinTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	ms := startTwoMembers(t)
	a, b := ms[0], ms[1]
	c := newClusterMember(t, 3)
	if r := tdrun(t, a.cfg, "", "cluster", "token", "-ValidFor", "soon"); r.code == 0 || !strings.Contains(r.stderr, "-ValidFor") {
		t.Errorf("cluster token -ValidFor soon: exit %d %s", r.code, r.stderr)
	}
	short := tokenRE.FindString(ok(t, a.cfg, "", "cluster", "token", "-ValidFor", "1s"))
	before := tokenRE.FindString(ok(t, a.cfg, "", "cluster", "token", "-ValidFor", "1h"))
	out := ok(t, b.cfg, "", "cluster", "token", "-Rotate")
	after := tokenRE.FindString(out)
	if short == "" || before == "" || after == "" || !strings.Contains(out, "revoked") {
		t.Fatalf("tokens: %q %q, after -Rotate: %s", short, before, out)
	}
	eventually(t, 30*time.Second, "MAIL1 refuses the token it issued before the rotation on MAIL2", func() string {
		r := tdrun(t, c.cfg, "", "cluster", "join", before)
		if r.code == 0 {
			t.Fatalf("joined with a revoked token: %s", r.stdout)
		}
		if !strings.Contains(r.stderr, "revoked") || !strings.Contains(r.stderr, "transportd cluster token") {
			return r.stderr
		}
		return ""
	})
	eventually(t, 10*time.Second, "the one-second token expires", func() string {
		r := tdrun(t, c.cfg, "", "cluster", "join", short)
		if r.code == 0 {
			t.Fatalf("joined with a token issued before the rotation: %s", r.stdout)
		}
		if !strings.Contains(r.stderr, "expired") || !strings.Contains(r.stderr, "transportd cluster token") {
			return r.stderr
		}
		return ""
	})
	ok(t, c.cfg, "", append([]string{"cluster", "join", after}, c.ports()...)...)
	if cfg, err := config.Read(c.cfg); err != nil || !cfg.Clustered() {
		t.Fatalf("MAIL3 after joining with the new token: %v", err)
	}
}
