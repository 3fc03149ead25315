package service

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/routing"
	"github.com/transportd/transportd/transport/mail/sendconnector"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// waitWatching waits until Run watches the configuration, so that a
// change made next is seen.
func (d *testDaemon) waitWatching() {
	d.t.Helper()
	select {
	case <-d.svc.watching:
	case <-d.done:
		d.t.Fatal("Run returned before watching the configuration")
	case <-time.After(10 * time.Second):
		d.t.Fatal("Run does not watch the configuration after 10 s")
	}
}

// change edits the daemon's configuration as the management commands do
// and waits until it is applied.
func (d *testDaemon) change(f func(c *config.Config)) {
	d.t.Helper()
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error { f(c); return nil }); err != nil {
		d.t.Fatal(err)
	}
	d.waitReload()
}

// refusedReload waits for a reload that fails and returns its error.
func (d *testDaemon) refusedReload() error {
	d.t.Helper()
	select {
	case err := <-d.reloads:
		if err == nil {
			d.t.Fatal("the daemon applied a configuration it should have refused")
		}
		return err
	case <-time.After(10 * time.Second):
		d.t.Fatal("the daemon did not try to reload within 10 s")
	}
	return nil
}

// greets checks that addr answers with a 220 greeting.
func greets(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s does not accept connections: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "220 ") {
		t.Fatalf("%s greets with %q", addr, buf[:n])
	}
}

// noDSN checks that alice's Maildir holds no notification.
func (d *testDaemon) noDSN() {
	d.t.Helper()
	entries, _ := os.ReadDir(filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new"))
	if len(entries) > 0 {
		data, _ := os.ReadFile(filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new", entries[0].Name()))
		d.t.Fatalf("alice got a DSN:\n%s", data)
	}
}

// recipientStates returns the queued message's recipients.
func (d *testDaemon) recipientStates(reply string) []queue.RecipientState {
	d.t.Helper()
	id := reply[strings.Index(reply, "<")+1 : strings.Index(reply, ">")]
	for _, m := range d.svc.Queue().Messages("") {
		if m.Identity == id {
			return m.Recipients
		}
	}
	return nil
}

// Emptying the config file, cutting it in half, or an editor truncating it
// before writing it again: the daemon refuses the file it sees, both
// connectors keep listening, and a queued message is never failed.
func TestEmptyOrTruncatedConfigIsRefused(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	attempted := make(chan struct{}, 100)
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		d.sink.fail = func(rcpt string) error {
			if refuse.Load() {
				attempted <- struct{}{}
				return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		}
	})
	reply := d.submit(t, []string{"friend@example.org"}, "Subject: waits\r\n\r\nx\r\n")
	select {
	case <-attempted:
	case <-time.After(10 * time.Second):
		t.Fatal("the smart host was never tried")
	}
	full, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")

	// : > transportd.yaml
	if err := os.Truncate(d.cfgPath, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.refusedReload(); !errors.Is(err, config.ErrLooksTruncated) {
		t.Fatalf("empty file: %v", err)
	}
	// Cut off in the middle (after the first connector: it still parses).
	half := string(full[:strings.Index(string(full), "  - Name: Client Frontend")])
	if err := os.WriteFile(d.cfgPath, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.refusedReload(); !errors.Is(err, config.ErrLooksTruncated) || !strings.Contains(err.Error(), "AcceptedDomains") {
		t.Fatalf("cut-off file: %v", err)
	}
	greets(t, d.addr25())
	greets(t, d.addr587())
	// The queue keeps retrying under the configuration in force.
	for range 3 {
		select {
		case <-attempted:
		case <-time.After(10 * time.Second):
			t.Fatal("the message is no longer retried")
		}
	}
	for _, r := range d.recipientStates(reply) {
		if r.Status == queue.StatusFailed {
			t.Fatalf("queued recipient failed by a refused configuration: %+v", r)
		}
	}
	d.noDSN()

	// An editor that truncates, then writes: the complete file applies.
	f, err := os.OpenFile(d.cfgPath, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		f.WriteString(l)
	}
	f.Close()
	for applied := false; !applied; {
		select {
		case err := <-d.reloads:
			// Whatever the daemon saw of the file half written, it
			// refused (cut off, or a line cut in the middle).
			applied = err == nil
		case <-time.After(10 * time.Second):
			t.Fatal("the complete file was not applied")
		}
	}
	refuse.Store(false)
	if got := waitSink(t, d.sink); got.to[0] != "friend@example.org" {
		t.Fatalf("smart host got %+v", got)
	}
	greets(t, d.addr25())
	d.noDSN()
}

// Moving a connector to a port in use fails as a whole: the old listener
// keeps accepting with the old settings and the reload reports the port.
func TestRebindToPortInUseKeepsListener(t *testing.T) {
	d := startDaemon(t, nil)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAP := busy.Addr().(*net.TCPAddr).AddrPort()
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error {
		for i := range c.ReceiveConnectors {
			if strings.HasPrefix(c.ReceiveConnectors[i].Name, "Default") {
				c.ReceiveConnectors[i].Bindings = []netip.AddrPort{busyAP}
				c.ReceiveConnectors[i].Fqdn = "moved.contoso.com"
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = d.refusedReload()
	if !strings.Contains(err.Error(), busyAP.String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload error %q does not name the port in use", err)
	}
	c := dial(t, d.addr25())
	if !strings.Contains(c.Greeting, "mail.contoso.com") {
		t.Fatalf("greeting %q: the refused configuration was half applied", c.Greeting)
	}
	c.expect("250", "EHLO partner.example")
	if r := c.send("someone@example.net", []string{"alice@contoso.com"}, "Subject: still here\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("old listener after a failed rebind: %q", r)
	}
	for _, rc := range d.svc.Config().ReceiveConnectors {
		if strings.HasPrefix(rc.Name, "Default") && rc.Bindings[0].Port() != uint16(d.port25) {
			t.Fatalf("Config() reports the binding that failed: %v", rc.Bindings)
		}
	}
	// Once the port is free, the next change applies it.
	busy.Close()
	d.change(func(c *config.Config) { c.Server.Name = "MAIL" })
	greets(t, busyAP.String())
}

// Removing the last send connector on purpose applies; mail then waits in
// the Unreachable queue instead of bouncing, and leaves as soon as a send
// connector is back.
func TestUnroutableAfterReloadWaitsInUnreachable(t *testing.T) {
	d := startDaemon(t, nil)
	var saved []sendconnector.SendConnector
	d.change(func(c *config.Config) { saved, c.SendConnectors = c.SendConnectors, nil })
	reply := d.submit(t, []string{"friend@example.org"}, "Subject: between two connectors\r\n\r\nx\r\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs := d.recipientStates(reply)
		if len(rs) == 1 && rs[0].Queue == routing.UnreachableQueue && rs[0].Status == queue.StatusRetry && strings.HasPrefix(rs[0].LastError, "451 4.4.4 ") {
			break
		}
		if len(rs) == 0 || rs[0].Status == queue.StatusFailed {
			t.Fatalf("bounced although the configuration just changed: %+v", rs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("recipient not in the Unreachable queue: %+v", rs)
		}
		time.Sleep(10 * time.Millisecond) // polling the queue: no event is exposed to tests
	}
	var seen bool
	for _, q := range d.svc.Queue().Queues() {
		seen = seen || q.Identity == routing.UnreachableQueue
	}
	if !seen {
		t.Errorf("Get-Queue does not show the Unreachable queue: %+v", d.svc.Queue().Queues())
	}
	d.change(func(c *config.Config) { c.SendConnectors = saved })
	if got := waitSink(t, d.sink); got.to[0] != "friend@example.org" {
		t.Fatalf("smart host got %+v", got)
	}
	d.noDSN()
}

// The pickup folder follows PickupDirectoryPath without a restart.
func TestPickupPathChangeAppliesLive(t *testing.T) {
	d := startDaemon(t, nil)
	d.change(func(c *config.Config) { c.Transport.PickupDirectoryPath = "pickup2" })
	pk := filepath.Join(d.svc.Config().DataDir(), "pickup2")
	if err := os.MkdirAll(pk, 0o750); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(pk, ".alert.tmp")
	if err := os.WriteFile(tmp, []byte("From: monitor@contoso.com\r\nTo: ops@example.org\r\nSubject: moved\r\n\r\nfrom the new folder\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(pk, "alert.eml")); err != nil {
		t.Fatal(err)
	}
	got := waitSink(t, d.sink)
	if !strings.Contains(got.data, "from the new folder") {
		t.Fatalf("smart host got %+v", got)
	}
}

// The DSN sender is postmaster@ the default accepted domain in force when
// the DSN is written, not the one the daemon started with.
func TestDSNSenderFollowsDefaultDomainLive(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		d.sink.fail = func(rcpt string) error {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		}
	})
	d.change(func(c *config.Config) {
		for i := range c.AcceptedDomains {
			c.AcceptedDomains[i].Default = false
		}
		c.AcceptedDomains = append(c.AcceptedDomains, config.AcceptedDomain{Name: "northwind", DomainName: "northwind.com", DomainType: "Authoritative", Default: true})
	})
	d.submit(t, []string{"nobody@example.org"}, "Subject: will bounce\r\n\r\nhello\r\n")
	box := filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if entries, _ := os.ReadDir(box); len(entries) == 1 {
			data, err := os.ReadFile(filepath.Join(box, entries[0].Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), "From: postmaster@northwind.com") && !strings.Contains(string(data), "<postmaster@northwind.com>") {
				t.Fatalf("DSN not from postmaster@northwind.com:\n%s", data)
			}
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the Maildir as a mail client would
	}
	t.Fatal(fmt.Sprint("no DSN in ", box))
}

// Logging settings and the server name apply live to message tracking.
func TestTrackingSettingsApplyLive(t *testing.T) {
	d := startDaemon(t, nil)
	d.change(func(c *config.Config) {
		c.Server.Fqdn = "mail2.contoso.com"
		c.Logging.MessageTrackingLogSubjectLoggingEnabled = false
	})
	d.submit(t, []string{"friend@example.org"}, "Subject: private matter\r\n\r\nx\r\n")
	evs := waitTracking(t, d, tracking.Filter{Sender: "alice@contoso.com"}, "RECEIVE", "SEND")
	for _, ev := range evs {
		if ev.MessageSubject != "" {
			t.Errorf("%s event logs the subject %q after subject logging was turned off", ev.EventID, ev.MessageSubject)
		}
		if ev.EventID == "SEND" && ev.ServerHostname != "mail2.contoso.com" {
			t.Errorf("SEND event server-hostname %q, want the new Server.Fqdn", ev.ServerHostname)
		}
	}
}

// The data folder cannot move under a running daemon: the change is
// refused with what to do, and the daemon goes on as before.
func TestDataPathChangeIsRefused(t *testing.T) {
	d := startDaemon(t, nil)
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error { c.Server.DataPath = "elsewhere"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := d.refusedReload(); !strings.Contains(err.Error(), "restart transportd") {
		t.Fatalf("DataPath change: %v", err)
	}
	if d.svc.Config().Server.DataPath != "" {
		t.Fatalf("DataPath in force is %q", d.svc.Config().Server.DataPath)
	}
	d.submit(t, []string{"friend@example.org"}, "Subject: still working\r\n\r\nx\r\n")
	waitSink(t, d.sink)
}

// Run returns only after the goroutines it started have: none of them can
// enqueue into the queue Run closes. A client settings request still
// being read keeps the HTTP endpoint's shutdown busy for a while, and Run
// waits for it.
func TestRunWaitsForItsGoroutines(t *testing.T) {
	d, base := startAdvertising(t)
	greets(t, d.addr25()) // Run is serving
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /mail/config-v1.1.xml HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	d.cancel()
	<-d.done
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"service.(*Service).runPickup", "service.(*Service).servePickup", "service.(*Service).runHTTP", "control.(*Server).Serve", "certs.(*Store).Watch"} {
		if strings.Contains(stacks, fn) {
			t.Errorf("%s still runs after Run returned", fn)
		}
	}
}

// A config file deleted by mistake is not replaced by the defaults under
// the running daemon.
func TestDeletedConfigIsNotReplacedByDefaults(t *testing.T) {
	d := startDaemon(t, nil)
	full, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d.cfgPath); err != nil {
		t.Fatal(err)
	}
	if err := d.refusedReload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted file: %v", err)
	}
	if _, err := os.Stat(d.cfgPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the daemon wrote a config file in place of the deleted one: %v", err)
	}
	greets(t, d.addr25())
	if err := os.WriteFile(d.cfgPath, full, 0o600); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	d.submit(t, []string{"friend@example.org"}, "Subject: after the restore\r\n\r\nx\r\n")
	waitSink(t, d.sink)
}

// The client settings endpoint moves make-before-break: a binding in use
// leaves the old listener serving; a free one replaces it.
func TestClientSettingsMoveMakeBeforeBreak(t *testing.T) {
	d := startDaemon(t, nil)
	log := d.svc.log
	listen := func(k httpListener) (net.Listener, error) { return net.Listen("tcp", k.binding.String()) }
	served := map[httpListener]int{}
	open := map[httpListener]net.Listener{}
	serve := func(k httpListener, l net.Listener) { open[k] = l; served[k]++ } // as runHTTP's, without HTTP
	oldL, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer oldL.Close()
	old := httpListener{binding: oldL.Addr().(*net.TCPAddr).AddrPort()}
	open[old] = oldL
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := httpListener{binding: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", freePort(t)))}

	d.svc.moveHTTP(log, open, []httpListener{free, {binding: busy.Addr().(*net.TCPAddr).AddrPort()}}, listen, serve)
	if len(open) != 1 || open[old] == nil {
		t.Fatalf("after a failed move open = %v, want only the old binding", open)
	}
	if c, err := net.Dial("tcp", old.binding.String()); err != nil {
		t.Fatalf("old binding closed by a failed move: %v", err)
	} else {
		c.Close()
	}
	if c, err := net.Dial("tcp", free.binding.String()); err == nil {
		c.Close()
		t.Fatalf("%s left open by a failed move", free.binding)
	}

	d.svc.moveHTTP(log, open, []httpListener{free}, listen, serve)
	if len(open) != 1 || open[free] == nil || served[free] != 1 {
		t.Fatalf("after a move to a free port open = %v", open)
	}
	defer open[free].Close()
	if c, err := net.Dial("tcp", old.binding.String()); err == nil {
		c.Close()
		t.Fatal("old binding still open after the move")
	}
}

// Server.Fqdn, changed under the running daemon (Set-TransportService
// -Fqdn), is at once the greeting of the connectors without their own Fqdn
// and the HELO name to smart hosts; a connector with its own keeps it.
func TestServerFqdnAppliesLive(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		for i := range c.ReceiveConnectors {
			rc := &c.ReceiveConnectors[i]
			if strings.HasPrefix(rc.Name, "Client") {
				rc.Fqdn = "submit.contoso.com"
			} else {
				rc.AnonymousRelay = true // an application relays on loopback, without TLS
			}
		}
	})
	relay := func(subject string) sinkMsg {
		t.Helper()
		c := dial(t, d.addr25())
		c.expect("250", "EHLO app.example")
		if r := c.send("app@contoso.com", []string{"friend@example.org"}, "Subject: "+subject+"\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("relay: %q", r)
		}
		c.close()
		return waitSink(t, d.sink)
	}
	if got := relay("before"); got.helo != "mail.contoso.com" {
		t.Fatalf("HELO %q before the change", got.helo)
	}
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error {
		c.SetServerFqdn("smtp.fabrikam.com")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if g := dial(t, d.addr25()).Greeting; !strings.HasPrefix(g, "220 smtp.fabrikam.com ") {
		t.Fatalf("Default Frontend greets %q", g)
	}
	if g := dial(t, d.addr587()).Greeting; !strings.HasPrefix(g, "220 submit.contoso.com ") {
		t.Fatalf("Client Frontend, with its own Fqdn, greets %q", g)
	}
	if got := relay("after"); got.helo != "smtp.fabrikam.com" {
		t.Fatalf("HELO %q after the change", got.helo)
	}
}
