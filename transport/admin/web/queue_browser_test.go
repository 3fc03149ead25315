package web_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/smtp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/shell"
)

// smartHost is an SMTP server in the test, on loopback, that the send
// connector relays to: it refuses every recipient with 451 4.4.0 until
// accept is set, then takes the messages.
type smartHost struct {
	addr   string
	accept atomic.Bool
	mu     sync.Mutex
	got    []string // the subjects taken
}

func startSmartHost(t *testing.T) *smartHost {
	t.Helper()
	h := &smartHost{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &smartHostSession{h: h}, nil }))
	srv.Domain = "smarthost.fabrikam.com"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return h
}

func (h *smartHost) subjects() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

type smartHostSession struct{ h *smartHost }

func (s *smartHostSession) Reset()                                 {}
func (s *smartHostSession) Logout() error                          { return nil }
func (s *smartHostSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *smartHostSession) AuthPlain(string, string) error         { return nil }
func (s *smartHostSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if !s.h.accept.Load() {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 0}, Message: "Smart host busy, try again later"}
	}
	return nil
}
func (s *smartHostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subject := ""
	for _, l := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject = v
			break
		}
	}
	s.h.mu.Lock()
	s.h.got = append(s.h.got, subject)
	s.h.mu.Unlock()
	return nil
}

// shellRun runs lines in one transportd shell on the daemon's configuration.
func shellRun(t *testing.T, d *daemon, lines ...string) string {
	t.Helper()
	var out bytes.Buffer
	sh := shell.New(d.cfgPath, &out)
	for _, l := range lines {
		if err := sh.Run(l); err != nil {
			t.Fatalf("%s: %v\n%s", l, err, out.String())
		}
	}
	return out.String()
}

// send submits one message from alice to to over SMTP.
func send(t *testing.T, addr, to, subject string) {
	t.Helper()
	msg := "From: alice@contoso.com\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(strings.ToLower(subject), " ", "-") + "@contoso.com>\r\n\r\nHello.\r\n"
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Plain SMTP, as many devices relay: no STARTTLS (the dashboard's TLS share sees it).
	err = c.Mail("alice@contoso.com")
	if err == nil {
		err = c.Rcpt(to)
	}
	var w io.WriteCloser
	if err == nil {
		w, err = c.Data()
	}
	if err == nil {
		_, err = io.WriteString(w, msg)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatalf("sending %q: %v", subject, err)
	}
	c.Quit()
}

// acceptDialogs says yes to every confirm() the pages ask (data-confirm).
func acceptDialogs(ctx context.Context) {
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
}

// clickLoad clicks sel and waits for the page the click leads to (a form
// submitted, a link followed) to load.
func clickLoad(sel string, opts ...chromedp.QueryOption) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		loaded := make(chan struct{})
		var once sync.Once
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		chromedp.ListenTarget(lctx, func(ev any) {
			if _, ok := ev.(*page.EventLoadEventFired); ok {
				once.Do(func() { close(loaded) })
			}
		})
		if err := chromedp.Click(sel, opts...).Do(ctx); err != nil {
			return err
		}
		select {
		case <-loaded:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// TestBrowserQueueViewerTraceAndDashboard relays through a smart host that
// first answers 451: the queue viewer shows the queue and its messages with
// the last error; a message is suspended and resumed, one removed with an
// NDR (which is generated); then the smart host accepts, Retry in the
// browser empties the queue, the trace shows a delivered message's events
// on the timeline and the dashboard counts the traffic and the refusals.
func TestBrowserQueueViewerTraceAndDashboard(t *testing.T) {
	ctx := browser(t)
	acceptDialogs(ctx)
	d := startDaemon(t)
	sh := startSmartHost(t)
	shellRun(t, d,
		"New-AcceptedDomain -Name 'Fabrikam' -DomainName fabrikam.com -DomainType InternalRelay",
		"New-SendConnector -Name 'To Fabrikam' -AddressSpaces fabrikam.com -SmartHosts '["+strings.Replace(sh.addr, ":", "]:", 1)+"' -DNSRoutingEnabled $false")
	waitFor(t, "the daemon taking mail for fabrikam.com", func() bool { return rcpt(t, "127.0.0.1", d.smtpAddr, "chris@fabrikam.com") == 250 })
	if code := rcpt(t, "127.0.0.1", d.smtpAddr, "someone@example.org"); code != 550 {
		t.Fatalf("relay to example.org: %d, want 550", code)
	}
	for _, s := range []string{"Queued one", "Queued two", "Queued three"} {
		send(t, d.smtpAddr, "chris@fabrikam.com", s)
	}

	var text string
	run(t, ctx, "sign in",
		chromedp.Navigate(d.base+"/"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, alicePassword),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#queue-depth`))

	// The queue with the smart host's refusal.
	waitFor(t, "the queue with the last error", func() bool {
		run(t, ctx, "queue viewer", chromedp.Navigate(d.base+"/queue"), chromedp.WaitVisible(`#queues`), chromedp.Text(`#queues`, &text))
		return strings.Contains(text, "451") && strings.Contains(text, "Retry")
	})
	screenshot(t, ctx, "queue-viewer")
	row := func(subject string) string { return `//tr[td[@class="subject" and text()="` + subject + `"]]` }
	run(t, ctx, "the queue's messages",
		chromedp.Click(`//tr[td[@class="lasterror" and contains(text(), "451")]]/td[1]/a`, chromedp.BySearch),
		chromedp.WaitVisible(`#messages`),
		chromedp.Text(`#messages`, &text))
	for _, want := range []string{"Queued one", "Queued two", "Queued three", "alice@contoso.com", "451 4.4.0"} {
		if !strings.Contains(text, want) {
			t.Errorf("the messages lack %q:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "queue-viewer-messages")
	run(t, ctx, "filter",
		chromedp.SetValue(`#filter`, "Subject -eq 'Queued two'"),
		clickLoad(`#apply-filter`),
		chromedp.WaitVisible(row("Queued two"), chromedp.BySearch),
		chromedp.Text(`#messages tbody`, &text))
	if strings.Contains(text, "Queued one") || strings.Contains(text, "Queued three") {
		t.Errorf("the filter Subject -eq 'Queued two' shows other messages:\n%s", text)
	}
	run(t, ctx, "suspend a message",
		chromedp.Evaluate(`document.getElementById("filter").value = ""`, nil),
		clickLoad(`#apply-filter`),
		chromedp.WaitVisible(row("Queued one"), chromedp.BySearch),
		clickLoad(row("Queued one")+`//button[@value="suspend"]`, chromedp.BySearch),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(row("Queued one")+`/td[@class="status"]`, &text, chromedp.BySearch))
	if text != "Suspended" {
		t.Errorf("status after Suspend-Message: %q", text)
	}
	run(t, ctx, "resume it",
		clickLoad(row("Queued one")+`//button[@value="resume"]`, chromedp.BySearch),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(row("Queued one")+`/td[@class="status"]`, &text, chromedp.BySearch))
	if text == "Suspended" {
		t.Errorf("status after Resume-Message: %q", text)
	}
	run(t, ctx, "remove a message with NDR",
		clickLoad(row("Queued two")+`//button[@value="remove-ndr"]`, chromedp.BySearch),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if !strings.Contains(text, "Remove-Message -Identity") || !strings.Contains(text, "-WithNDR $true") || strings.Contains(text, "Queued two") {
		t.Errorf("after Remove-Message -WithNDR:\n%s", text)
	}
	var tracked string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tracking log:\n%s", shellRun(t, d, "Get-MessageTrackingLog | Format-List"))
		}
	})
	waitFor(t, "the NDR in alice's mailbox", func() bool {
		tracked = shellRun(t, d, "Get-MessageTrackingLog -EventId DELIVER -Recipients alice@contoso.com | Format-List")
		return strings.Contains(tracked, "Queued two")
	})
	run(t, ctx, "the removed message's timeline",
		chromedp.Navigate(d.base+"/trace/message?messageid="+url.QueryEscape("<queued-two@contoso.com>")),
		chromedp.WaitVisible(`#timeline`),
		chromedp.Text(`#timeline`, &text))
	for _, want := range []string{"RECEIVE", "DEFER", "FAIL", "550 5.3.0 Message deleted by an administrator", "DSN"} {
		if !strings.Contains(text, want) {
			t.Errorf("the removed message's timeline lacks %q:\n%s", want, text)
		}
	}

	// The smart host accepts now: Retry-Queue from the browser empties the queue.
	sh.accept.Store(true)
	run(t, ctx, "retry the queue",
		chromedp.Navigate(d.base+"/queue"),
		chromedp.WaitVisible(`#queues`),
		chromedp.Click(`//tr[td[@class="lasterror" and contains(text(), "451")]]//button[@value="retry"]`, chromedp.BySearch),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if !strings.Contains(text, "Retry-Queue -Identity") {
		t.Errorf("after Retry:\n%s", text)
	}
	waitFor(t, "the queue to empty", func() bool {
		var counts string
		run(t, ctx, "queue viewer", chromedp.Navigate(d.base+"/queue"), chromedp.WaitVisible(`#queues`),
			chromedp.Evaluate(`Array.from(document.querySelectorAll("#queues td.count")).map(e => e.textContent).filter(c => c !== "0").join(",")`, &counts))
		return len(sh.subjects()) == 2 && counts == ""
	})
	if got := sh.subjects(); !slices.Contains(got, "Queued one") || !slices.Contains(got, "Queued three") {
		t.Errorf("the smart host got %q", got)
	}

	// Trace the delivered message.
	waitFor(t, "the SEND event in the trace", func() bool {
		run(t, ctx, "trace search",
			chromedp.Navigate(d.base+"/trace"),
			chromedp.WaitVisible(`#trace-form`),
			chromedp.SetValue(`#t-subject`, "Queued three"),
			clickLoad(`#search`),
			chromedp.WaitVisible(`#trace-results`),
			chromedp.Text(`#trace-results`, &text))
		return strings.Contains(text, "SEND")
	})
	screenshot(t, ctx, "message-trace")
	run(t, ctx, "the timeline",
		clickLoad(`#trace-results a.details`),
		chromedp.WaitVisible(`#timeline`),
		chromedp.Text(`#timeline`, &text))
	for _, want := range []string{"RECEIVE", "SEND", "DEFER", "Default Frontend MAIL", "127.0.0.1", "mail.contoso.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "RECEIVE") > strings.Index(text, "SEND") {
		t.Errorf("the timeline is not in order:\n%s", text)
	}
	screenshot(t, ctx, "message-trace-timeline")

	// The dashboard counts the traffic of the last hour, and one session with STARTTLS.
	startTLS(t, d.smtpAddr)
	var in, out, refusals, tlsUse string
	run(t, ctx, "dashboard",
		chromedp.Navigate(d.base+"/"),
		chromedp.WaitVisible(`#window-0`),
		chromedp.Text(`#window-0 .tls`, &tlsUse),
		chromedp.Text(`#window-0 .in-count`, &in),
		chromedp.Text(`#window-0 .out-count`, &out),
		chromedp.Text(`#window-0 table.refusals`, &refusals))
	if n, _ := strconv.Atoi(in); n < 4 { // three messages and the NDR
		t.Errorf("messages in, last hour: %q, want at least 4", in)
	}
	if n, _ := strconv.Atoi(out); n < 3 { // two relayed, the NDR delivered
		t.Errorf("messages out, last hour: %q, want at least 3", out)
	}
	if !strings.Contains(refusals, "550 5.7.54") || !strings.Contains(refusals, "relay not permitted") {
		t.Errorf("refusals, last hour:\n%s", refusals)
	}
	if !strings.Contains(tlsUse, "TLS 1.3: 1") || strings.Contains(tlsUse, "no sessions") {
		t.Errorf("TLS use, last hour: %q", tlsUse)
	}
	var svgs int
	run(t, ctx, "charts", chromedp.Evaluate(`document.querySelectorAll("svg.chart polyline").length`, &svgs))
	if svgs < 8 {
		t.Errorf("%d chart lines, want 8 (2 windows: in, out, queued, refused)", svgs)
	}
	screenshot(t, ctx, "dashboard")

	// Readable on a phone: nothing wider than the screen but the tables,
	// which scroll in their own box.
	for _, p := range []string{"/", "/queue", "/queue/messages", "/trace?search=1", "/trace/message?messageid=" + url.QueryEscape("<queued-three@contoso.com>")} {
		var overflow int
		run(t, ctx, "phone "+p,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(d.base+p),
			chromedp.WaitVisible(`#main`),
			chromedp.Evaluate(`document.documentElement.scrollWidth - window.innerWidth`, &overflow))
		if overflow > 0 {
			t.Errorf("%s is %d px wider than a phone's screen", p, overflow)
		}
		if p == "/" {
			screenshot(t, ctx, "dashboard-phone")
		}
	}
}
