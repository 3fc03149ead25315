package smtpd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/authqueue"
	"github.com/transportd/transportd/policies/lockout"
	"github.com/transportd/transportd/policies/value"
)

// fastDirectory accepts alice/right without hashing, so lockout tests do
// not depend on argon2's speed.
type fastDirectory struct{}

func (fastDirectory) MailboxExists(a string) bool { return a == "alice@contoso.com" }
func (fastDirectory) MaySendAs(u, a string) bool  { return u == a }
func (fastDirectory) Authenticate(_ context.Context, u, p string) (string, error) {
	if u == "alice@contoso.com" && p == "right" {
		return u, nil
	}
	return "", errors.New("wrong user name or password")
}

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	refused  map[string]int
	lockouts map[string]int
}

func (r *recorder) ConnectionOpened(string)      {}
func (r *recorder) ConnectionClosed(string)      {}
func (r *recorder) AuthFailed(string)            {}
func (r *recorder) TLSNegotiated(string, uint16) {}
func (r *recorder) AuthRefused(_, reason string) { r.mu.Lock(); r.refused[reason]++; r.mu.Unlock() }
func (r *recorder) AuthLockout(scope string)     { r.mu.Lock(); r.lockouts[scope]++; r.mu.Unlock() }
func newRecorder() *recorder                     { return &recorder{refused: map[string]int{}, lockouts: map[string]int{}} }
func (r *recorder) counts() (map[string]int, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return clone(r.refused), clone(r.lockouts)
}

func clone(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func fastTune(rc *connector.ReceiveConnector) {
	rc.AuthTarpitInterval = value.TimeSpan(time.Millisecond)
	rc.TarpitInterval = value.TimeSpan(time.Millisecond)
}

func mustDial(t *testing.T, local, addr string) *authClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := dialAuth(ctx, local, addr)
	if err != nil {
		t.Fatalf("connecting from %s: %v", local, err)
	}
	t.Cleanup(c.close)
	return c
}

func expectAuth(t *testing.T, c *authClient, user, pass, want string) string {
	t.Helper()
	r, err := c.plain(user, pass)
	if err != nil || !strings.HasPrefix(r, want) {
		t.Fatalf("AUTH %s/%s: %q %v, want %s", user, pass, r, err, want)
	}
	return r
}

// A source that failed AuthFailureLockoutThreshold times is refused with
// 454 4.7.0 on every connection, even with the right password, while
// another source logs on.
func TestLockoutSurvivesReconnect(t *testing.T) {
	rec := newRecorder()
	guard := lockout.New(lockout.Policy{Threshold: 4, Window: time.Minute, Duration: time.Minute}, nil)
	addr := startAuthServer(t, Deps{Directory: fastDirectory{}, Lockout: guard, Observer: rec}, fastTune)

	// MaxLogonFailures 3 closes each connection after three wrong
	// passwords; the fourth, on a new connection, sets off the block.
	c := mustDial(t, "127.0.2.1", addr)
	for i := 0; i < 2; i++ {
		expectAuth(t, c, fmt.Sprintf("user%d@contoso.com", i), "guess", "535 5.7.8")
	}
	expectAuth(t, c, "user2@contoso.com", "guess", "421 4.7.0")
	c = mustDial(t, "127.0.2.1", addr)
	expectAuth(t, c, "user3@contoso.com", "guess", "535 5.7.8")
	r := expectAuth(t, c, "alice@contoso.com", "right", "454 4.7.0")
	if !strings.Contains(r, "too many failed logons from your address, try again in 1 minute") {
		t.Errorf("block reply %q does not say why and for how long", r)
	}
	c = mustDial(t, "127.0.2.1", addr)
	expectAuth(t, c, "alice@contoso.com", "right", "454 4.7.0")

	// Another address is not affected.
	c = mustDial(t, "127.0.2.2", addr)
	expectAuth(t, c, "alice@contoso.com", "right", "235")

	refused, lockouts := rec.counts()
	if refused["locked_out"] != 2 || lockouts["source"] != 1 {
		t.Errorf("observer told refused %v, lockouts %v; want 2 locked_out, 1 source lockout", refused, lockouts)
	}
	if s, _ := guard.Blocked(); s != 1 {
		t.Errorf("guard reports %d blocked sources, want 1", s)
	}
}

// Guessing one account from many addresses blocks the account for new
// addresses, with the same reply whether the account exists or not, while
// an address alice logged on from before keeps working.
func TestAccountLockoutSparesKnownSource(t *testing.T) {
	guard := lockout.New(lockout.Policy{Threshold: 3, Window: time.Minute, Duration: time.Minute}, nil)
	addr := startAuthServer(t, Deps{Directory: fastDirectory{}, Lockout: guard}, fastTune)

	expectAuth(t, mustDial(t, "127.0.3.100", addr), "alice@contoso.com", "right", "235")
	replies := map[string]string{}
	for _, user := range []string{"alice@contoso.com", "nobody@contoso.com"} {
		for i := 1; i <= 3; i++ {
			expectAuth(t, mustDial(t, fmt.Sprintf("127.0.3.%d", i), addr), user, "guess", "535 5.7.8")
		}
		replies[user] = expectAuth(t, mustDial(t, "127.0.3.50", addr), strings.ToUpper(user), "right", "454 4.7.0")
	}
	digits := regexp.MustCompile(`[0-9]+ minutes?`)
	if a, n := digits.ReplaceAllString(replies["alice@contoso.com"], "N"), digits.ReplaceAllString(replies["nobody@contoso.com"], "N"); a != n {
		t.Errorf("a blocked existing account answers %q, a blocked unknown one %q", a, n)
	}
	expectAuth(t, mustDial(t, "127.0.3.100", addr), "alice@contoso.com", "right", "235")
}

// blockingDirectory holds every password check until released.
type blockingDirectory struct {
	started chan struct{}
	release chan struct{}
}

func (blockingDirectory) MailboxExists(string) bool  { return false }
func (blockingDirectory) MaySendAs(u, a string) bool { return false }
func (d blockingDirectory) Authenticate(ctx context.Context, u, p string) (string, error) {
	d.started <- struct{}{}
	<-d.release
	return "", errors.New("wrong user name or password")
}

// When the password-check queue is full, AUTH is refused at once with 454
// 4.7.0 instead of waiting (and holding memory) behind the others.
func TestAuthQueueFullRefuses(t *testing.T) {
	dir := blockingDirectory{started: make(chan struct{}, 1), release: make(chan struct{})}
	rec := newRecorder()
	addr := startAuthServer(t, Deps{Directory: dir, AuthQueue: authqueue.New(1, 0, 0), Observer: rec}, fastTune)
	first := mustDial(t, "127.0.4.1", addr)
	done := make(chan string, 1)
	go func() {
		r, _ := first.plain("alice@contoso.com", "x")
		done <- r
	}()
	<-dir.started // the one slot is taken
	r := expectAuth(t, mustDial(t, "127.0.4.2", addr), "alice@contoso.com", "right", "454 4.7.0")
	if !strings.Contains(r, "too many authentication attempts are waiting") {
		t.Errorf("busy reply %q", r)
	}
	close(dir.release)
	if r := <-done; !strings.HasPrefix(r, "535") {
		t.Errorf("the check that ran: %q", r)
	}
	if refused, _ := rec.counts(); refused["busy"] != 1 {
		t.Errorf("observer told %v, want one busy", refused)
	}
}

func TestGrowTarpit(t *testing.T) {
	base := 5 * time.Second
	for recent, want := range map[int]time.Duration{0: base, 1: base, 2: 10 * time.Second, 3: 20 * time.Second, 4: 40 * time.Second, 5: time.Minute, 50: time.Minute} {
		if got := growTarpit(base, recent); got != want {
			t.Errorf("growTarpit(5s, %d) = %v, want %v", recent, got, want)
		}
	}
	if got := growTarpit(0, 9); got != 0 {
		t.Errorf("no tarpit grows to %v", got)
	}
	if got := growTarpit(2*time.Minute, 9); got != 2*time.Minute {
		t.Errorf("a tarpit above a minute: %v", got)
	}
}
