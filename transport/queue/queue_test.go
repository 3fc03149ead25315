package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnqueueIsDurableAndListed(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{From: "a@example.net", Recipients: []Recipient{{Address: "alice@contoso.com", Local: true}}}
	id, err := q.Enqueue(context.Background(), env, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	// A new process opening the queue sees the message.
	q2, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	envs, err := q2.List()
	if err != nil || len(envs) != 1 || envs[0].ID != id || envs[0].Size != int64(len("Subject: x\r\n\r\nhi\r\n")) || envs[0].Recipients[0].Address != "alice@contoso.com" {
		t.Fatalf("list = %+v, %v", envs, err)
	}
	f, err := q2.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestOversizedMessageLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Enqueue(context.Background(), Envelope{MaxMessageLen: 10}, strings.NewReader(strings.Repeat("x", 100)))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	for _, sub := range []string{"msg", "env"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, sub)); len(entries) != 0 {
			t.Fatalf("%s holds %v after a refused message", sub, entries)
		}
	}
}

// A body without its envelope is what a crash between the two writes
// leaves: that message never got 250, and opening the queue removes it.
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
	os.WriteFile(filepath.Join(dir, "msg", "HALF.eml"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, "env", ".HALF.json.tmp123"), []byte("{"), 0o600)
	q, err = OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "msg", "HALF.eml")); !os.IsNotExist(err) {
		t.Fatal("half-written body survived recovery")
	}
	if _, err := os.Stat(filepath.Join(dir, "env", ".HALF.json.tmp123")); !os.IsNotExist(err) {
		t.Fatal("temporary envelope survived recovery")
	}
	envs, _ := q.List()
	if len(envs) != 1 || envs[0].ID != kept {
		t.Fatalf("committed message lost: %+v", envs)
	}
}
