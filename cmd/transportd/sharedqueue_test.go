package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dataReply sends one message to addr and returns the server's reply to
// the end of DATA ("" when the session broke before it).
func dataReply(addr string, n int) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return ""
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimSpace(line)
			}
		}
	}
	if !strings.HasPrefix(read(), "220") {
		return ""
	}
	for _, cmd := range []string{"EHLO load.test", "MAIL FROM:<app@contoso.com>", "RCPT TO:<ops@example.org>", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if rep := read(); rep == "" || rep[0] != '2' && rep[0] != '3' {
			return rep
		}
	}
	fmt.Fprintf(c, "Subject: load %d\r\n\r\n%s.\r\n", n, strings.Repeat(strings.Repeat("x", 76)+"\r\n", 52))
	rep := read()
	fmt.Fprintf(c, "QUIT\r\n")
	return rep
}

var queuedID = regexp.MustCompile(`^250 2\.6\.0 <([0-9A-F]+)>`)

// TestSharedQueueKill9 is issue 14's demonstration: three transportd
// processes form a cluster, share one queue on JetStream (R3) and relay a
// load spread over all three to a recording smart host. MAIL3 is killed
// with SIGKILL in the middle: every message that got 250 anywhere,
// MAIL3's too, reaches the smart host (duplicates are counted and
// reported). MAIL3 rejoins and catches up; then, cut off from the two
// others (stopped with SIGSTOP), it refuses mail with 451 4.3.0.
func TestSharedQueueKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	host := startSmartHost(t)
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		// The organization's send connector, in the first member's
		// configuration before cluster new: the others get it on join.
		m := relayMember(t, i, host.port, time.Second)
		ms = append(ms, m)
		logOnFailure(t, m, 400)
	}
	a := ms[0]
	formCluster(t, ms, nil)
	waitClusterUp(t, a, 60*time.Second, 3, "TQ_QUEUE")
	waitSharedQueueOpen(t, ms)
	waitInForce(t, ms, 30*time.Second, "Smart")
	t.Logf("cluster status:\n%s", ok(t, a.cfg, "", "cluster", "status"))

	total := 2000
	if n, err := strconv.Atoi(os.Getenv("TRANSPORTD_SHAREDQUEUE_MESSAGES")); err == nil {
		total = n
	}
	var mu sync.Mutex
	accepted := map[string]int{} // queue id -> member
	refused := 0
	refusedBy := map[string]int{} // member and reply -> count
	load := func(from, to int, members []int) {
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 30; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					m := members[n%len(members)]
					rep := dataReply(ms[m].smtp, n)
					mu.Lock()
					if id := queuedID.FindStringSubmatch(rep); id != nil {
						accepted[id[1]] = m
					} else {
						refused++
						if len(rep) > 9 {
							rep = rep[:9]
						}
						refusedBy[fmt.Sprintf("%s %q", ms[m].name, rep)]++
					}
					mu.Unlock()
				}
			}()
		}
		for n := from; n < to; n++ {
			work <- n
		}
		close(work)
		wg.Wait()
	}
	killed := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(killed)
		for {
			mu.Lock()
			n := len(accepted)
			mu.Unlock()
			if n >= total/2 {
				t.Logf("%d messages got 250 after %v: MAIL3 killed", n, time.Since(began))
				ms[2].daemon.Process.Signal(syscall.SIGKILL)
				ms[2].daemon.Wait()
				return
			}
			time.Sleep(2 * time.Millisecond) // watching the load's progress
		}
	}()
	load(0, total, []int{0, 1, 2})
	<-killed
	mu.Lock()
	t.Logf("%d messages got 250 (%d refused: MAIL3 was killed, the others answer 451 while JetStream elects new leaders) in %v; refused: %v", len(accepted), refused, time.Since(began), refusedBy)
	mu.Unlock()

	missing := func() []string {
		host.mu.Lock()
		defer host.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for id := range accepted {
			if host.ids[id] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	eventually(t, 120*time.Second, "every message that got 250 delivered", func() string {
		if m := missing(); len(m) > 0 {
			return fmt.Sprintf("%d of %d not delivered, e.g. %s", len(m), len(accepted), m[0])
		}
		return ""
	})
	host.mu.Lock()
	dups, fromMAIL3 := 0, 0
	for id, n := range host.ids {
		dups += n - 1
		if accepted[id] == 2 {
			fromMAIL3++
		}
	}
	host.mu.Unlock()
	t.Logf("all %d delivered %v after the load began, %d of them accepted by MAIL3 before it died; %d duplicates", len(accepted), time.Since(began), fromMAIL3, dups)
	if fromMAIL3 == 0 {
		t.Fatal("MAIL3 accepted nothing before it was killed: the test proves nothing")
	}

	// MAIL3 rejoins, catches up and relays again.
	ms[2].start(t)
	eventually(t, 60*time.Second, "MAIL3 back in the cluster", func() string {
		r := tdrun(t, ms[2].cfg, "", "cluster", "status")
		if r.code != 0 || strings.Count(r.stdout, ": Up") < 3 {
			return r.stdout + r.stderr
		}
		return ""
	})
	var id string
	eventually(t, 60*time.Second, "MAIL3 accepts mail again", func() string {
		rep := dataReply(ms[2].smtp, total)
		if m := queuedID.FindStringSubmatch(rep); m != nil {
			id = m[1]
			return ""
		}
		return rep
	})
	eventually(t, 30*time.Second, "MAIL3's new message delivered", func() string {
		host.mu.Lock()
		defer host.mu.Unlock()
		if host.ids[id] == 0 {
			return id + " not delivered"
		}
		return ""
	})

	// Cut off from the two others, MAIL3 refuses mail with 451 4.3.0.
	for _, m := range ms[:2] {
		m.daemon.Process.Signal(syscall.SIGSTOP)
	}
	cut := time.Now()
	rep := dataReply(ms[2].smtp, total+1)
	for _, m := range ms[:2] {
		m.daemon.Process.Signal(syscall.SIGCONT)
	}
	if !strings.HasPrefix(rep, "451 4.3.0 ") {
		t.Fatalf("MAIL3 cut off from the cluster answered %q, want 451 4.3.0", rep)
	}
	t.Logf("MAIL3 cut off answers after %v: %s", time.Since(cut).Round(time.Millisecond), rep)
}
