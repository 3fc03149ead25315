package control

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCallRoundTripAndPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	srv, err := Listen(path, func(ctx context.Context, op string, args json.RawMessage) (any, error) {
		switch op {
		case "echo":
			var s string
			json.Unmarshal(args, &s)
			return strings.ToUpper(s), nil
		case "panic":
			panic("boom")
		}
		return nil, errors.New("unknown op " + op)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	var out string
	if err := Call(context.Background(), path, "echo", "hello", &out); err != nil || out != "HELLO" {
		t.Fatalf("echo = %q, %v", out, err)
	}
	if err := Call(context.Background(), path, "nope", nil, nil); err == nil || !strings.Contains(err.Error(), "unknown op nope") {
		t.Fatalf("unknown op: %v", err)
	}
	if err := Call(context.Background(), path, "panic", nil, nil); err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("panic: %v", err)
	}
	// Still serving after a panic.
	if err := Call(context.Background(), path, "echo", "x", &out); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, nil, nil); err == nil {
		t.Fatal("a second daemon could take the socket of a running one")
	}
}

func TestCallWithoutDaemon(t *testing.T) {
	err := Call(context.Background(), filepath.Join(t.TempDir(), SocketName), "x", nil, nil)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("err = %v, want ErrNotRunning", err)
	}
}
