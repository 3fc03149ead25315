package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/credentials"
	"github.com/transportd/transportd/policies/lockout"
)

// argonDirectory checks passwords with real argon2id hashes and, like the
// daemon's directory, lets at most NumCPU (at least 2) hashes run at once.
type argonDirectory struct {
	hash string
	sem  chan struct{}
}

func newArgonDirectory(tb testing.TB, password string) *argonDirectory {
	tb.Helper()
	h, err := credentials.Hash(password)
	if err != nil {
		tb.Fatal(err)
	}
	return &argonDirectory{hash: h, sem: make(chan struct{}, max(runtime.NumCPU(), 2))}
}

func (d *argonDirectory) MailboxExists(a string) bool { return a == "alice@contoso.com" }
func (d *argonDirectory) MaySendAs(u, a string) bool  { return u == a }
func (d *argonDirectory) Authenticate(ctx context.Context, u, p string) (string, error) {
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if u != "alice@contoso.com" {
		credentials.VerifyDummy(p)
		return "", errors.New("wrong user name or password")
	}
	ok, err := credentials.Verify(d.hash, p)
	if err != nil || !ok {
		return "", errors.New("wrong user name or password")
	}
	return u, nil
}

// startAuthServer runs the real SMTP server with the Client Frontend on a
// loopback port, with Exchange's default limits (MaxLogonFailures 3,
// AuthTarpitInterval 5 s, 20 connections per source) unless tune changes
// them, and a directory hashing with argon2id.
func startAuthServer(tb testing.TB, deps Deps, tune func(rc *connector.ReceiveConnector)) string {
	tb.Helper()
	dir := tb.TempDir()
	store := testCerts(tb, dir+"/certs")
	q := openTestQueue(tb, dir+"/queue")
	tbl := testDomains(tb)
	deps.Queue, deps.Certs = q, store
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	srv := New(deps)
	rc := connector.Defaults("mail.contoso.com")[1] // Client Frontend
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	rc.Bindings = []netip.AddrPort{l.Addr().(*net.TCPAddr).AddrPort()}
	l.Close()
	if tune != nil {
		tune(&rc)
	}
	if err := srv.Apply(Snapshot{Connectors: []connector.ReceiveConnector{rc}, Domains: tbl}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	return rc.Bindings[0].String()
}

// authClient is a minimal SMTP client over TLS for AUTH tests.
type authClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialAuth connects from local (an address on the loopback interface, ""
// for any), says EHLO, STARTTLS and EHLO again.
func dialAuth(ctx context.Context, local, addr string) (*authClient, error) {
	dl := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := &authClient{conn: conn, r: bufio.NewReader(conn)}
	for _, step := range []struct{ cmd, want string }{{"", "220"}, {"EHLO client.example", "250"}, {"STARTTLS", "220"}} {
		if r, err := c.cmd(step.cmd); err != nil || !strings.HasPrefix(r, step.want) {
			conn.Close()
			return nil, fmt.Errorf("%q: %q %v", step.cmd, r, err)
		}
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.contoso.com"})
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	if r, err := c.cmd("EHLO client.example"); err != nil || !strings.HasPrefix(r, "250") {
		tc.Close()
		return nil, fmt.Errorf("EHLO after STARTTLS: %q %v", r, err)
	}
	return c, nil
}

// cmd sends line (none when empty) and reads one whole reply.
func (c *authClient) cmd(line string) (string, error) {
	if line != "" {
		if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
			return "", err
		}
	}
	var out []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return strings.Join(out, "\n"), err
		}
		l = strings.TrimRight(l, "\r\n")
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(out, "\n"), nil
		}
	}
}

func (c *authClient) plain(user, pass string) (string, error) {
	return c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
}

func (c *authClient) close() { c.conn.Close() }

// flood runs workers connections that try wrong passwords for alice, from
// sources 127.0.1.1 to 127.0.1.<sources>, reconnecting whenever the server
// closes, until ctx ends. wait returns when the workers have stopped, with
// the replies they got, counted by their first nine characters; checked
// reports how many of them were "535" so far, that is, how many guesses
// the server has checked.
func flood(ctx context.Context, addr string, workers, sources int) (wait func() map[string]int, checked func() int) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies = map[string]int{}
	)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := fmt.Sprintf("127.0.1.%d", 1+i%sources)
			for n := 0; ctx.Err() == nil; n++ {
				c, err := dialAuth(ctx, local, addr)
				if err != nil {
					if ctx.Err() == nil {
						time.Sleep(50 * time.Millisecond) // refused (connection limits): try again soon, as a bot would
					}
					continue
				}
				stop := context.AfterFunc(ctx, c.close)
				for ctx.Err() == nil {
					r, err := c.plain("alice@contoso.com", fmt.Sprintf("guess-%d-%d", i, n))
					if err != nil {
						break
					}
					mu.Lock()
					replies[r[:min(len(r), 9)]]++
					mu.Unlock()
					if strings.HasPrefix(r, "421") {
						break
					}
				}
				stop()
				c.close()
			}
		}()
	}
	return func() map[string]int {
			wg.Wait()
			return replies
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for k, v := range replies {
				if strings.HasPrefix(k, "535") {
					n += v
				}
			}
			return n
		}
}

// noTarpit answers failed logons at once, as fast as a flood can ask.
func noTarpit(rc *connector.ReceiveConnector) { rc.AuthTarpitInterval = 0 }

// loginAlice logs on as alice with the right password on a new
// connection from 127.0.0.1 and returns how long AUTH took.
func loginAlice(ctx context.Context, addr string) (time.Duration, error) {
	lctx, lcancel := context.WithTimeout(ctx, 60*time.Second)
	defer lcancel()
	c, err := dialAuth(lctx, "127.0.0.1", addr)
	if err != nil {
		return 0, err
	}
	defer c.close()
	start := time.Now()
	r, err := c.plain("alice@contoso.com", "right-password")
	if err == nil && !strings.HasPrefix(r, "235") {
		err = fmt.Errorf("%q", r)
	}
	return time.Since(start), err
}

// waitChecked waits until the server has checked n of the flood's
// guesses. The first guesses of each source come before its first
// failure, so they are not yet known as guesses; the queue holds at most
// 16 of them (2 slots, 8 waiting per slot), and once they are through the
// flood is in its steady state.
func waitChecked(tb testing.TB, checked func() int, n int) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for checked() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("the server checked only %d guesses in 2 minutes", checked())
		}
		time.Sleep(20 * time.Millisecond) // no event to wait for but the count
	}
}

// A user who knows the password logs on promptly while 60 connections
// from 6 other addresses guess passwords as fast as they can (lockout and
// tarpit off, so the guessing goes on at full speed): the guesses wait
// behind the user's check instead of before it.
func TestLegitimateLoginDuringFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes hundreds of argon2id passwords")
	}
	dir := newArgonDirectory(t, "right-password")
	addr := startAuthServer(t, Deps{Directory: dir, Lockout: lockout.New(lockout.Policy{}, nil)}, noTarpit)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle, err := loginAlice(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	wait, checked := flood(ctx, addr, 60, 6)
	defer func() {
		cancel()
		t.Logf("flood replies: %v", wait())
	}()
	waitChecked(t, checked, 20)
	var worst time.Duration
	most := 0
	for i := 0; i < 3; i++ {
		before := checked()
		d, err := loginAlice(ctx, addr)
		if err != nil {
			t.Fatalf("login during the flood after %v: %v", d, err)
		}
		worst, most = max(worst, d), max(most, checked()-before)
	}
	t.Logf("AUTH took %v alone, at most %v during the flood, while at most %d guesses were checked", idle, worst, most)
	// Alone, a login is one argon2id check. During the flood it waits only
	// for the checks already running (2 slots here) and shares the CPU with
	// the one beside it; before the fair queue it waited for every guess
	// queued before it (tens of seconds). Counting the guesses checked
	// while the user waits says this without depending on how loaded the
	// machine is: a few at most (the running ones, the one beside the
	// user's, and replies still on their way), not the queue.
	if most > 6 {
		t.Errorf("%d guesses were checked while the user waited for AUTH (%v): the user's check waited behind the flood", most, worst)
	}
}

// BenchmarkAuthUnderFlood measures how long a user with the right
// password waits for "235" while 200 connections from 20 other addresses
// guess passwords as fast as the server answers them, with Exchange's
// default connector limits and the default lockout policy ("flood"), with
// the lockout and the tarpit off so the guessing goes on at full speed
// ("flood-nolockout-notarpit": the fair password-check queue alone), and
// with nobody else on the server ("idle") for comparison. alice has logged
// on once before the flood starts. Each iteration is one login on a new connection from 127.0.0.1; the AUTH command's
// latency is reported as auth-p50-ms and auth-max-ms.
//
//	go test -run '^$' -bench AuthUnderFlood -benchtime 10x ./connector/smtpd/
func BenchmarkAuthUnderFlood(b *testing.B) {
	for _, tc := range []struct {
		name    string
		flooded bool
		lockout *lockout.Guard
		tune    func(*connector.ReceiveConnector)
		warm    int // guesses checked before measuring
	}{
		{"idle", false, nil, nil, 0},
		{"flood", true, nil, nil, 10},
		{"flood-nolockout-notarpit", true, lockout.New(lockout.Policy{}, nil), noTarpit, 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := newArgonDirectory(b, "right-password")
			addr := startAuthServer(b, Deps{Directory: dir, Lockout: tc.lockout}, tc.tune)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// alice has used the server before (her client logs on every
			// few minutes); the flood then guesses her password.
			if _, err := loginAlice(ctx, addr); err != nil {
				b.Fatal(err)
			}
			if tc.flooded {
				wait, checked := flood(ctx, addr, 200, 20)
				defer func() {
					cancel()
					b.Logf("flood replies: %v", wait())
				}()
				waitChecked(b, checked, tc.warm)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := loginAlice(ctx, addr)
				if err != nil {
					b.Fatalf("legitimate login after %v: %v", d, err)
				}
				lat = append(lat, d)
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "auth-p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "auth-max-ms")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapSys>>20), "heap-sys-MiB")
		})
	}
}
