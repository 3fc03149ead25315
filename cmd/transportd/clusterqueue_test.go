package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterQueueFromAnyMember is issue 14 item 4's admin half: three
// transportd processes in a cluster; a message queued on MAIL1 for a smart
// host that does not answer is listed (Server MAIL1), suspended, resumed
// and removed with an NDR from MAIL2 and MAIL3, Get-Queue -Server selects
// one member, and message tracking on MAIL3 finds MAIL1's RECEIVE event.
// Then MAIL3 is killed: its message is listed from the shared queue as
// held by a member that does not answer, and an operation on it says so.
// (That another member takes it over after the lease is
// TestSharedQueueKill9's.)
func TestClusterQueueFromAnyMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	dead := freePort(t) // nothing listens: the smart host does not answer
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		m := relayMember(t, i, dead, time.Minute)
		ms = append(ms, m)
		// Under go test -race the daemons are race-checked too.
		logOnFailure(t, m, 60)
	}
	a, b, c := ms[0], ms[1], ms[2]
	formCluster(t, ms, nil)
	// Every stream of the shared queue at R3 (the leases too), so that a
	// member's messages outlive it.
	waitClusterUp(t, a, 60*time.Second, 3, "TQ_QUEUE", "TQ_BODY", "KV_TQ_MEMBERS")
	waitSharedQueueOpen(t, ms)
	var id string
	eventually(t, 60*time.Second, "MAIL1 queues a message", func() string {
		rep := dataReply(a.smtp, 1)
		if m := queuedID.FindStringSubmatch(rep); m != nil {
			id = m[1]
			return ""
		}
		return rep
	})
	ownID := regexp.MustCompile(`\\` + id + `(\s|$)`)
	var identity string
	eventually(t, 30*time.Second, "MAIL2 lists MAIL1's message", func() string {
		r := tdrun(t, b.cfg, "", "message", "get", "-format", "list")
		if r.code != 0 || !ownID.MatchString(r.stdout) || !regexp.MustCompile(`Server\s*:\s*MAIL1`).MatchString(r.stdout) {
			return r.stdout + r.stderr
		}
		identity = regexp.MustCompile(`Identity\s*:\s*(MAIL1\\\S+\\` + id + `)\s`).FindStringSubmatch(r.stdout)[1]
		return ""
	})
	t.Logf("Get-Message on MAIL2:\n%s", ok(t, b.cfg, "", "message", "get"))

	ok(t, b.cfg, "", "message", "suspend", "-identity", id)
	if got := ok(t, c.cfg, "", "message", "get", "-identity", identity, "-format", "list"); !regexp.MustCompile(`Status\s*:\s*Suspended`).MatchString(got) {
		t.Errorf("after Suspend-Message on MAIL2, Get-Message on MAIL3:\n%s", got)
	}
	if got := ok(t, a.cfg, "", "message", "get", "-server", "MAIL1", "-format", "list"); !regexp.MustCompile(`Status\s*:\s*Suspended`).MatchString(got) {
		t.Errorf("after Suspend-Message on MAIL2, MAIL1's own queue:\n%s", got)
	}
	ok(t, b.cfg, "", "message", "resume", "-identity", identity)
	if got := ok(t, c.cfg, "", "message", "get", "-identity", id, "-format", "list"); regexp.MustCompile(`Status\s*:\s*Suspended`).MatchString(got) {
		t.Errorf("after Resume-Message on MAIL2, Get-Message on MAIL3:\n%s", got)
	}
	q1 := ok(t, b.cfg, "", "queue", "get", "-server", "MAIL1")
	if !strings.Contains(q1, `MAIL1\`) || strings.Contains(q1, `MAIL2\`) || !strings.Contains(q1, "Server") {
		t.Errorf("Get-Queue -Server MAIL1 on MAIL2:\n%s", q1)
	}
	if got := ok(t, c.cfg, "", "queue", "retry", "-identity", `MAIL1\Smart`); !strings.Contains(got, "1 queue") {
		t.Errorf("Retry-Queue MAIL1\\Smart on MAIL3: %s", got)
	}
	if got := ok(t, c.cfg, "", "message", "get", "-filter", "Server -eq 'MAIL1'"); !ownID.MatchString(got) {
		t.Errorf("Get-Message -Filter \"Server -eq 'MAIL1'\" on MAIL3:\n%s", got)
	}
	if got := ok(t, c.cfg, "", "message", "get", "-filter", "Server -eq 'MAIL2'"); ownID.MatchString(got) {
		t.Errorf("Get-Message -Filter \"Server -eq 'MAIL2'\" on MAIL3 lists MAIL1's message:\n%s", got)
	}
	if r := tdrun(t, b.cfg, "", "queue", "get", "-server", "MAIL9"); r.code == 0 || !strings.Contains(r.stderr, "MAIL1, ") {
		t.Errorf("Get-Queue -Server MAIL9: exit %d, %s", r.code, r.stderr)
	}
	if r := tdrun(t, b.cfg, "", "message", "suspend", "-identity", "NOSUCHID"); r.code == 0 || !strings.Contains(r.stderr, "no message matches") {
		t.Errorf("Suspend-Message of no message: exit %d, %s", r.code, r.stderr)
	}
	if got := ok(t, b.cfg, "", "message", "remove", "-identity", id, "-withndr", "$true"); !strings.Contains(got, "1 message") {
		t.Errorf("Remove-Message on MAIL2: %s", got)
	}
	for _, m := range ms {
		if got := ok(t, m.cfg, "", "message", "get", "-format", "list"); ownID.MatchString(got) {
			t.Errorf("after Remove-Message, %s still lists %s:\n%s", m.name, id, got)
		}
	}
	eventually(t, 10*time.Second, "tracking on MAIL3 finds MAIL1's RECEIVE", func() string {
		r := tdrun(t, c.cfg, "", "trackinglog", "get", "-eventid", "RECEIVE", "-internalmessageid", id)
		if r.code != 0 || !regexp.MustCompile(`Server\s*:\s*MAIL1`).MatchString(r.stdout) || !strings.Contains(r.stdout, "RECEIVE") {
			return r.stdout + r.stderr
		}
		return ""
	})
	// The NDR of Remove-Message -WithNDR: MAIL1, which held the message, sent it.
	eventually(t, 10*time.Second, "MAIL1's DSN event about the removed message, seen from MAIL2", func() string {
		r := tdrun(t, b.cfg, "", "trackinglog", "get", "-server", "MAIL1", "-eventid", "DSN", "-format", "list")
		if r.code != 0 || !regexp.MustCompile(`Reference\s*:\s*`+id).MatchString(r.stdout) || !regexp.MustCompile(`Server\s*:\s*MAIL1`).MatchString(r.stdout) {
			return r.stdout + r.stderr
		}
		return ""
	})
	if got := ok(t, c.cfg, "", "trackinglog", "get", "-server", "MAIL2", "-internalmessageid", id); strings.Contains(got, "RECEIVE") {
		t.Errorf("Get-MessageTrackingLog -Server MAIL2 shows MAIL1's RECEIVE:\n%s", got)
	}

	// MAIL3 dies with a message queued: listed from the shared queue,
	// refused to act on until another member holds it.
	var id2 string
	eventually(t, 30*time.Second, "MAIL3 queues a message", func() string {
		if m := queuedID.FindStringSubmatch(dataReply(c.smtp, 2)); m != nil {
			id2 = m[1]
			return ""
		}
		return "no 250"
	})
	c.daemon.Process.Signal(syscall.SIGKILL)
	c.daemon.Wait()
	c.daemon = nil
	// JetStream may first elect new stream leaders (MAIL3 led some):
	// meanwhile the answer says the shared queue cannot be read now.
	eventually(t, 20*time.Second, "MAIL2 lists the dead MAIL3's message from the shared queue", func() string {
		r := tdrun(t, b.cfg, "", "message", "get", "-identity", id2, "-format", "list")
		if r.code != 0 || !strings.Contains(r.stdout, "MAIL3 does not answer") || !regexp.MustCompile(`Server\s*:\s*MAIL3`).MatchString(r.stdout) {
			return r.stdout + r.stderr
		}
		return ""
	})
	if r := tdrun(t, b.cfg, "", "message", "suspend", "-identity", id2); r.code == 0 || !strings.Contains(r.stderr, "held by MAIL3, which does not answer") {
		t.Errorf("Suspend-Message of the dead MAIL3's message: exit %d, %s", r.code, r.stderr)
	}
}
