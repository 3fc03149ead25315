package saslserver

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
)

var errBadPassword = errors.New("bad password")

// checker returns an Authenticator accepting alice/secret and recording the
// last call.
func checker(gotUser, gotPass *string, calls *int) Authenticator {
	return func(u, p string) error {
		*gotUser, *gotPass = u, p
		*calls++
		if u == "alice" && p == "secret" {
			return nil
		}
		return errBadPassword
	}
}

type step struct {
	response  []byte // nil: no (initial) response
	challenge string
	done      bool
	err       error
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		calls int // expected Authenticator calls
	}{
		{"without initial response", []step{
			{nil, "Username:", false, nil},
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
		}, 1},
		{"with initial response", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
		}, 1},
		{"wrong password", []step{
			{nil, "Username:", false, nil},
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("hunter2"), "", true, errBadPassword},
		}, 1},
		{"wrong password with initial response", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte(""), "", true, errBadPassword},
		}, 1},
		{"empty initial response", []step{
			{[]byte{}, "", true, ErrEmptyUsername},
		}, 0},
		{"empty username", []step{
			{nil, "Username:", false, nil},
			{[]byte{}, "", true, ErrEmptyUsername},
		}, 0},
		{"NUL in username", []step{
			{nil, "Username:", false, nil},
			{[]byte("alice\x00bob"), "", true, ErrNUL},
		}, 0},
		{"NUL in initial response", []step{
			{[]byte("\x00alice"), "", true, ErrNUL},
		}, 0},
		{"NUL in password", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("sec\x00ret"), "", true, ErrNUL},
		}, 0},
		{"response after done", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
			{[]byte("more"), "", true, ErrUnexpectedResponse},
		}, 1},
		{"response after failure", []step{
			{[]byte{}, "", true, ErrEmptyUsername},
			{[]byte("alice"), "", true, ErrUnexpectedResponse},
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var user, pass string
			var calls int
			s := NewLoginServer(checker(&user, &pass, &calls))
			run(t, s, tc.steps)
			if calls != tc.calls {
				t.Errorf("Authenticator called %d times, want %d", calls, tc.calls)
			}
			if calls > 0 && user != "alice" {
				t.Errorf("Authenticator got user %q", user)
			}
		})
	}
}

func run(t *testing.T, s sasl.Server, steps []step) {
	t.Helper()
	for i, st := range steps {
		ch, done, err := s.Next(st.response)
		if st.err == errAny {
			if err == nil {
				t.Fatalf("step %d: no error, want one", i)
			}
			continue
		}
		if !errors.Is(err, st.err) {
			t.Fatalf("step %d: err = %v, want %v", i, err, st.err)
		}
		if err == nil && done != st.done {
			t.Fatalf("step %d: done = %v, want %v", i, done, st.done)
		}
		if string(ch) != st.challenge {
			t.Fatalf("step %d: challenge = %q, want %q", i, ch, st.challenge)
		}
	}
}

// TestLoginWithClient runs the LOGIN server against a minimal LOGIN client
// the way go-smtp drives a sasl.Server.
func TestLoginWithClient(t *testing.T) {
	var user, pass string
	var calls int
	s := NewLoginServer(checker(&user, &pass, &calls))
	answers := map[string]string{"Username:": "alice", "Password:": "secret"}
	var resp []byte
	for i := 0; ; i++ {
		if i > 3 {
			t.Fatal("exchange does not end")
		}
		ch, done, err := s.Next(resp)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		a, ok := answers[string(ch)]
		if !ok {
			t.Fatalf("unknown challenge %q", ch)
		}
		resp = []byte(a)
	}
	if user != "alice" || pass != "secret" || calls != 1 {
		t.Errorf("got %q/%q after %d calls", user, pass, calls)
	}
}

func TestPlain(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		calls int
	}{
		{"initial response", []step{{[]byte("\x00alice\x00secret"), "", true, nil}}, 1},
		{"same authzid", []step{{[]byte("alice\x00alice\x00secret"), "", true, nil}}, 1},
		{"no initial response", []step{
			{nil, "", false, nil},
			{[]byte("\x00alice\x00secret"), "", true, nil},
		}, 1},
		{"wrong password", []step{{[]byte("\x00alice\x00nope"), "", true, errBadPassword}}, 1},
		{"other authzid", []step{{[]byte("bob\x00alice\x00secret"), "", true, ErrIdentityMismatch}}, 0},
		{"empty authcid", []step{{[]byte("\x00\x00secret"), "", true, ErrEmptyUsername}}, 0},
		{"NUL in password", []step{{[]byte("\x00alice\x00sec\x00ret"), "", false, errAny}}, 0},
		{"too few fields", []step{{[]byte("alice\x00secret"), "", false, errAny}}, 0},
		{"empty", []step{{[]byte{}, "", false, errAny}}, 0},
		{"response after done", []step{
			{[]byte("\x00alice\x00secret"), "", true, nil},
			{[]byte("\x00alice\x00secret"), "", false, errAny},
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var user, pass string
			var calls int
			s := NewPlainServer(checker(&user, &pass, &calls))
			run(t, s, tc.steps)
			if calls != tc.calls {
				t.Errorf("Authenticator called %d times, want %d", calls, tc.calls)
			}
		})
	}
}

// errAny in a step accepts any non-nil error (go-sasl's own errors are
// not exported values).
var errAny = errors.New("any error")

func FuzzServers(f *testing.F) {
	f.Add([]byte("alice"), []byte("secret"), []byte("x"), true)
	f.Add([]byte{}, []byte{}, []byte{}, false)
	f.Add([]byte("\x00alice\x00secret"), []byte("a\x00b"), []byte("\x00"), true)
	f.Fuzz(func(t *testing.T, r1, r2, r3 []byte, initial bool) {
		auth := func(u, p string) error {
			if u == "" {
				t.Fatal("Authenticator called with empty username")
			}
			if strings.IndexByte(u+p, 0) >= 0 {
				t.Fatalf("Authenticator called with a NUL byte: %q %q", u, p)
			}
			return nil
		}
		for _, s := range []sasl.Server{NewLoginServer(auth), NewPlainServer(auth)} {
			first := r1
			if !initial {
				first = nil
			}
			for _, r := range [][]byte{first, r2, r3, r1} {
				if _, done, err := s.Next(r); err != nil || done {
					break
				}
			}
		}
	})
}
