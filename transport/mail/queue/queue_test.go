package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnqueueIsDurableAndLoaded(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	body := "Subject: x\r\n\r\nhi\r\n"
	env := Envelope{From: "a@example.net", Recipients: []Recipient{{Address: "alice@contoso.com", Local: true}}}
	id, err := q.Enqueue(context.Background(), env, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// A new process opening the queue sees the message.
	q2, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	got, err := q2.Load()
	if err != nil || len(got) != 1 || got[0].Envelope.ID != id || got[0].Envelope.Size != int64(len(body)) || got[0].Envelope.Recipients[0].Address != "alice@contoso.com" {
		t.Fatalf("load = %+v, %v", got, err)
	}
	rc, err := q2.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != body {
		t.Fatalf("body %q, want %q", data, body)
	}
}

func TestManyRecipientsFitTheHeader(t *testing.T) {
	q, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	env := Envelope{From: "a@example.net"}
	for i := 0; i < 500; i++ {
		env.Recipients = append(env.Recipients, Recipient{Address: strings.Repeat("x", 60) + "@example.org"})
	}
	id, err := q.Enqueue(context.Background(), env, strings.NewReader("x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Load()
	if err != nil || len(got) != 1 || len(got[0].Envelope.Recipients) != 500 || got[0].Envelope.ID != id {
		t.Fatalf("load: %v", err)
	}
}

func TestOversizedMessageLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	_, err = q.Enqueue(context.Background(), Envelope{MaxMessageLen: 10}, strings.NewReader(strings.Repeat("x", 100)))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	for _, sub := range []string{"msg", "tmp"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, sub)); len(entries) != 0 {
			t.Fatalf("%s holds %v after a refused message", sub, entries)
		}
	}
}

// A file in tmp/ is what a crash during receipt leaves: that message never
// got 250, and opening the queue removes it.
func TestRecoveryRemovesHalfWrittenMessages(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := q.Enqueue(context.Background(), Envelope{From: "a@b.example"}, strings.NewReader("x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	os.WriteFile(filepath.Join(dir, "tmp", "HALF"), []byte("partial"), 0o600)
	q, err = OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := os.Stat(filepath.Join(dir, "tmp", "HALF")); !os.IsNotExist(err) {
		t.Fatal("half-written message survived recovery")
	}
	got, _ := q.Load()
	if len(got) != 1 || got[0].Envelope.ID != kept {
		t.Fatalf("committed message lost: %+v", got)
	}
}
