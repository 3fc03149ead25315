package jsstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/mail/queue/journal"
	"github.com/transportd/transportd/transport/mail/queue/jsstore"
	"github.com/transportd/transportd/transport/mail/queue/jsstore/jstest"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// fillJournal queues n messages in a local journal at dir, every third
// with a saved delivery state, some over a 16 KiB chunk; it returns the
// bodies by queue id.
func fillJournal(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bodies := map[string]string{}
	for i := range n {
		body := fmt.Sprintf("Subject: local %d\r\n\r\n%s", i, strings.Repeat("x", (i*7919)%40000))
		env := message.Envelope{From: "a@contoso.com", Recipients: []message.Recipient{{Address: fmt.Sprintf("r%d@fabrikam.com", i)}}}
		id, err := j.Enqueue(context.Background(), env, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			st := &message.State{Recipients: []message.RecipientState{{Address: env.Recipients[0].Address, Status: message.StatusRetry, Attempts: i}}}
			if err := j.SaveState(id, st); err != nil {
				t.Fatal(err)
			}
		}
		bodies[id] = body
	}
	return bodies
}

// checkMoved checks that the shared queue holds every message of bodies
// exactly once, owned by owner ("" = anyone), unmarked, with its body and saved state,
// and that the journal at dir is empty.
// The stores of the members that may own them (others) load them all.
func checkMoved(t *testing.T, s *jsstore.Store, owner, dir string, bodies map[string]string, others ...*jsstore.Store) {
	t.Helper()
	all, err := s.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range all {
		seen[m.Envelope.ID]++
		if owner != "" && m.Owner != owner {
			t.Errorf("%s: owner %q, want %s", m.Envelope.ID, m.Owner, owner)
		}
	}
	for id, n := range seen {
		if n != 1 || bodies[id] == "" {
			t.Errorf("%s is in the shared queue %d times (known: %v)", id, n, bodies[id] != "")
		}
	}
	if len(seen) != len(bodies) {
		t.Errorf("shared queue holds %d messages, want %d", len(seen), len(bodies))
	}
	n := 0
	for _, s := range append([]*jsstore.Store{s}, others...) {
		n += checkLoaded(t, s, bodies)
	}
	if n != len(bodies) {
		t.Errorf("Load: %d messages, want %d (some still marked Importing?)", n, len(bodies))
	}
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if left, err := j.Load(); err != nil || len(left) != 0 {
		t.Errorf("journal after the move: %d messages, %v", len(left), err)
	}
}

// checkLoaded checks the body and state of the messages s loads (only
// unmarked records are loaded) and returns how many.
func checkLoaded(t *testing.T, s *jsstore.Store, bodies map[string]string) int {
	t.Helper()
	loaded, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range loaded {
		id := m.Envelope.ID
		rc, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != bodies[id] {
			t.Errorf("%s: body of %d bytes (want %d), err %v", id, len(got), len(bodies[id]), err)
		}
		if m.Envelope.Size != int64(len(bodies[id])) {
			t.Errorf("%s: size %d, want %d", id, m.Envelope.Size, len(bodies[id]))
		}
		var i int
		fmt.Sscanf(m.Envelope.Recipients[0].Address, "r%d@", &i)
		if (i%3 == 0) != (m.State != nil) || m.State != nil && m.State.Recipients[0].Attempts != i {
			t.Errorf("%s (message %d): state %+v", id, i, m.State)
		}
	}
	return len(loaded)
}

// TestMigrateCutShortAndRerun moves a journal into the shared queue,
// failing the move after a record was stored but before the journal copy
// was removed, and after the removal but before the mark was cleared;
// each rerun finishes the job without losing or duplicating a message,
// and a marked message is neither loaded nor taken over meanwhile.
func TestMigrateCutShortAndRerun(t *testing.T) {
	c := jstest.Start(t, 3)
	dir := t.TempDir()
	bodies := fillJournal(t, dir, 40)
	s := open(t, c, 0, "MAIL1", time.Second) // never renewed: expires
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	stored, err := j.Load()
	if err != nil {
		t.Fatal(err)
	}
	crash := errors.New("injected crash")
	var other *jsstore.Store
	// In this order: the second cut is further in the journal than the
	// first (a map's random order made the first run move the second's
	// message).
	cut := []struct{ id, step string }{{stored[10].Envelope.ID, "published"}, {stored[25].Envelope.ID, "removed"}}
	for _, cs := range cut {
		id, step := cs.id, cs.step
		s.FailMigrationAt(step, func(x string) bool { return x == id }, crash)
		if n, err := s.Migrate(context.Background(), j); !errors.Is(err, crash) {
			t.Fatalf("Migrate with a crash at %s of %s: %d moved, %v", step, id, n, err)
		}
		// The message cut short is marked: nobody delivers it, and
		// another member does not take it over when MAIL1's lease expired
		// (it takes the moved ones).
		time.Sleep(1500 * time.Millisecond) // MAIL1's 1s lease expires: no signal for a TTL
		other = open(t, c, 1, "MAIL2", time.Second)
		other.Run(ctxFor(t, 3*time.Second), nil, nil)
		all, err := s.Messages(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range all {
			if m.Envelope.ID == id && m.Owner != "MAIL1" {
				t.Fatalf("%s, marked Importing, was taken over by %s", id, m.Owner)
			}
		}
		loaded, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range loaded {
			if m.Envelope.ID == id {
				t.Fatalf("%s was loaded while marked Importing", id)
			}
		}
	}
	s.FailMigrationAt("", func(string) bool { return false }, nil)
	if _, err := s.Migrate(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	j.Close()
	checkMoved(t, s, "", dir, bodies, other)
	// A second rerun has nothing to do.
	j2, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if n, err := s.Migrate(context.Background(), j2); n != 0 || err != nil {
		t.Fatalf("rerun after a finished move: %d, %v", n, err)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

const migrateChildEnv = "JSSTORE_MIGRATE_CHILD" // "<nats url> <journal dir>"

// TestMigrateChild is the child of TestMigrateSurvivesSIGKILL: it moves
// the journal into the shared queue, printing each message whose record
// was stored, until it is killed.
func TestMigrateChild(t *testing.T) {
	arg := os.Getenv(migrateChildEnv)
	if arg == "" {
		t.Skip("run by TestMigrateSurvivesSIGKILL")
	}
	url, dir, _ := strings.Cut(arg, " ")
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	js, _ := jetstream.New(nc)
	s, err := jsstore.Open(context.Background(), jsstore.Options{JS: js, Server: "MAIL1", Replicas: 3, ChunkSize: 16 << 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	s.FailMigrationAt("published", func(id string) bool { fmt.Println("published", id); return false }, nil)
	if _, err := s.Migrate(context.Background(), j); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("DONE")
}

// TestMigrateSurvivesSIGKILL kills (SIGKILL) a process moving a journal
// into a three-node JetStream cluster twice, at different points, then
// finishes the move: every message is in the shared queue exactly once.
func TestMigrateSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	c := jstest.Start(t, 3)
	dir := t.TempDir()
	bodies := fillJournal(t, dir, 120)
	s := open(t, c, 0, "MAIL1", time.Minute) // creates the streams
	for _, killAt := range []int{7, 31} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), migrateChildEnv+"="+c.URL(0)+" "+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "ERR") || line == "DONE" {
				t.Fatalf("child: %s (killed too late?)", line)
			}
			if n++; n == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if n < killAt {
			t.Fatalf("child stored only %d records", n)
		}
	}
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	left, _ := j.Load()
	moved, err := s.Migrate(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	t.Logf("after two kills, the rerun moved %d of %d messages", moved, len(bodies))
	if len(left) == len(bodies) || len(left) == 0 {
		t.Fatalf("the kills left %d of %d messages in the journal: they did not land mid-move", len(left), len(bodies))
	}
	checkMoved(t, s, "MAIL1", dir, bodies)
}
