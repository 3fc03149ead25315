package filestore

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/queue/journal"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// writeOld writes a message as the per-file store of earlier versions
// did: "TDQ1 <json length> <body offset>\n<json>\n", spaces up to the body
// offset (a multiple of 4096), then the body; the state, when given, in
// state/<id>.json.
func writeOld(t *testing.T, dir string, env message.Envelope, body string, st *message.State) {
	t.Helper()
	for _, sub := range []string{"tmp", "msg", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env.Size = int64(len(body))
	js, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	size := (len(js) + 64 + 4095) / 4096 * 4096
	line := fileMagic + strconv.Itoa(len(js)) + " " + strconv.Itoa(size) + "\n"
	head := []byte(line + string(js) + "\n" + strings.Repeat(" ", size-len(line)-len(js)-2) + "\n")
	if err := os.WriteFile(filepath.Join(dir, "msg", env.ID), append(head, body...), 0o600); err != nil {
		t.Fatal(err)
	}
	if st != nil {
		data, _ := json.Marshal(st)
		if err := os.WriteFile(filepath.Join(dir, "state", env.ID+".json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func openJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func bodyOf(t *testing.T, j *journal.Journal, id string) string {
	t.Helper()
	rc, err := j.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func oldFiles(t *testing.T, dir, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// An upgrade from the per-file queue: every message moves into the journal
// in the same folder with its id, envelope, body and delivery state, and
// leaves the old queue; what never got 250 (tmp/) is dropped.
func TestMigrateMovesEverythingIntoTheJournal(t *testing.T) {
	dir := t.TempDir()
	many := message.Envelope{ID: "0000000000001000100000001", From: "a@example.net"}
	for range 500 {
		many.Recipients = append(many.Recipients, message.Recipient{Address: strings.Repeat("x", 60) + "@example.org"})
	}
	deferred := message.Envelope{ID: "0000000000002000200000002", From: "b@example.net", Source: "SMTP",
		Recipients: []message.Recipient{{Address: "alice@contoso.com", Local: true}, {Address: "bob@example.org"}}}
	st := &message.State{DelayNotified: true, Recipients: []message.RecipientState{
		{Address: "alice@contoso.com", Status: message.StatusDelivered},
		{Address: "bob@example.org", Status: message.StatusRetry, Attempts: 4, LastError: "451 4.4.1 later"}}}
	writeOld(t, dir, many, "Subject: many\r\n\r\nhi\r\n", nil)
	writeOld(t, dir, deferred, "Subject: deferred\r\n\r\n"+strings.Repeat("y", 10000)+"\r\n", st)
	os.WriteFile(filepath.Join(dir, "tmp", "HALF"), []byte("partial"), 0o600)

	j := openJournal(t, dir)
	n, err := Migrate(context.Background(), dir, j, slog.New(slog.DiscardHandler))
	if err != nil || n != 2 {
		t.Fatalf("Migrate = %d, %v; want 2 messages", n, err)
	}
	for _, sub := range []string{"msg", "state", "tmp"} {
		if left := oldFiles(t, dir, sub); len(left) != 0 {
			t.Fatalf("%s/ still holds %v after the migration", sub, left)
		}
	}
	// The journal has them, also after a restart.
	j.Close()
	j = openJournal(t, dir)
	got, err := j.Load()
	if err != nil || len(got) != 2 {
		t.Fatalf("journal after migration: %d messages, %v", len(got), err)
	}
	if g := got[0]; g.Envelope.ID != many.ID || len(g.Envelope.Recipients) != 500 || g.State != nil ||
		bodyOf(t, j, many.ID) != "Subject: many\r\n\r\nhi\r\n" {
		t.Fatalf("first message: %+v", g.Envelope)
	}
	g := got[1]
	if g.Envelope.ID != deferred.ID || g.Envelope.From != "b@example.net" || !g.Envelope.Recipients[0].Local ||
		g.Envelope.Size != int64(len(bodyOf(t, j, deferred.ID))) {
		t.Fatalf("second message: %+v", g.Envelope)
	}
	if g.State == nil || !g.State.DelayNotified || g.State.Recipients[1].Attempts != 4 || g.State.Recipients[0].Status != message.StatusDelivered {
		t.Fatalf("state lost in the migration: %+v", g.State)
	}
	// Nothing left: a second start migrates nothing.
	if n, err := Migrate(context.Background(), dir, j, slog.New(slog.DiscardHandler)); n != 0 || err != nil {
		t.Fatalf("second Migrate = %d, %v", n, err)
	}
}

// A crash after the journal took a message but before the old file was
// removed moves it again at the next start: the journal still holds it once.
func TestMigrateTwiceHoldsTheMessageOnce(t *testing.T) {
	dir := t.TempDir()
	env := message.Envelope{ID: "0000000000003000300000003", From: "a@example.net", Recipients: []message.Recipient{{Address: "c@example.org"}}}
	j := openJournal(t, dir)
	for range 2 {
		writeOld(t, dir, env, "x\r\n", nil)
		if n, err := Migrate(context.Background(), dir, j, slog.New(slog.DiscardHandler)); n != 1 || err != nil {
			t.Fatalf("Migrate = %d, %v", n, err)
		}
	}
	j.Close()
	j = openJournal(t, dir)
	if got, err := j.Load(); err != nil || len(got) != 1 || got[0].Envelope.ID != env.ID {
		t.Fatalf("journal holds %+v, %v; want the message once", got, err)
	}
}

// A damaged file is set aside for the admin, not lost and not retried at
// every start; the others move.
func TestMigrateSetsDamagedFilesAside(t *testing.T) {
	dir := t.TempDir()
	env := message.Envelope{ID: "0000000000004000400000004", From: "a@example.net", Recipients: []message.Recipient{{Address: "c@example.org"}}}
	writeOld(t, dir, env, "x\r\n", nil)
	os.WriteFile(filepath.Join(dir, "msg", "BROKEN"), []byte("TDQ1 garbage\n"), 0o600)
	j := openJournal(t, dir)
	if n, err := Migrate(context.Background(), dir, j, slog.New(slog.DiscardHandler)); n != 1 || err != nil {
		t.Fatalf("Migrate = %d, %v", n, err)
	}
	if left := oldFiles(t, dir, "msg"); len(left) != 1 || left[0] != ".BROKEN.damaged" {
		t.Fatalf("msg/ holds %v, want the damaged file set aside", left)
	}
	if n, err := Migrate(context.Background(), dir, j, slog.New(slog.DiscardHandler)); n != 0 || err != nil {
		t.Fatalf("second Migrate = %d, %v", n, err)
	}
}

// Without an old queue, Migrate changes nothing on disk.
func TestMigrateWithoutAnOldQueue(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, dir)
	if n, err := Migrate(context.Background(), dir, j, slog.New(slog.DiscardHandler)); n != 0 || err != nil {
		t.Fatalf("Migrate = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "msg")); !os.IsNotExist(err) {
		t.Fatalf("Migrate created msg/: %v", err)
	}
}
