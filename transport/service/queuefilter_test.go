package service

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/shell"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// identities are the Identity properties of a shell variable's objects.
func identities(t *testing.T, sh *shell.Shell, name string) []string {
	t.Helper()
	v, _ := sh.Var(name)
	var list []any
	switch x := v.(type) {
	case nil:
	case []any:
		list = x
	default:
		list = []any{x}
	}
	var out []string
	for _, o := range list {
		obj, ok := o.(*shell.Object)
		if !ok {
			t.Fatalf("$%s holds %T", name, o)
		}
		id, _ := obj.Get("Identity")
		out = append(out, fmt.Sprint(id))
	}
	return out
}

// A running daemon holds messages for several domains (the smart host
// answers 451 to every recipient, so they stay queued): each -Filter, run
// in the shell as Microsoft's examples write it, selects exactly the
// matching queues and messages, and Suspend-Queue, Suspend-Message and
// Remove-Message act on exactly those.
func TestFilterSelectsExactlyTheMatchingQueuesAndMessages(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		d.sink.fail = func(string) error {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		for _, dom := range []string{"fabrikam.com", "tailspintoys.com"} {
			sc := sendconnector.New(dom)
			sc.AddressSpaces = mustSpaces(dom)
			sc.SmartHosts = mustSmartHosts(d.sink.addr)
			sc.DNSRoutingEnabled = false
			c.SendConnectors = append(c.SendConnectors, sc)
		}
		c.Transport.TransientFailureRetryInterval = 1 << 40 // retries only when asked
		c.Transport.MessageRetryInterval = 1 << 40
	})
	body := func(subject string, size int) string {
		return "From: alice@contoso.com\r\nSubject: " + subject + "\r\n\r\n" + strings.Repeat("x", size) + "\r\n"
	}
	d.submit(t, []string{"a@fabrikam.com"}, body("one", 10))
	d.submit(t, []string{"b@fabrikam.com", "c@tailspintoys.com"}, body("two", 10))
	d.submit(t, []string{"d@tailspintoys.com"}, body("three", 4000))
	d.submit(t, []string{"e@example.org"}, body("four", 10))
	subjects := func() map[string]string { // subject -> status
		var ms []control.Message
		if err := d.control(t, control.OpMessageGet, control.Selector{}, &ms); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range ms {
			out[m.Subject] = m.Status
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := subjects()
		if len(st) == 4 && st["one"] == "Retry" && st["two"] == "Retry" && st["three"] == "Retry" && st["four"] == "Retry" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages never all waited in Retry: %v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling Get-Message as an admin would
	}

	var out strings.Builder
	sh := shell.New(d.cfgPath, &out)
	run := func(src string) {
		t.Helper()
		out.Reset()
		if err := sh.Run(src); err != nil {
			t.Fatalf("%s: %v\n%s", src, err, out.String())
		}
	}
	expect := func(src, name string, want ...string) {
		t.Helper()
		run("$" + name + " = " + src)
		got := identities(t, sh, name)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %q, want %q", src, got, want)
		}
	}
	expect(`Get-Queue -Filter {MessageCount -gt 1}`, "q", `MAIL\fabrikam.com`, `MAIL\tailspintoys.com`)
	expect(`Get-Queue -Filter "NextHopDomain -eq 'fabrikam.com' -or NextHopDomain -like 'Out*'"`, "q", `MAIL\Outbound`, `MAIL\fabrikam.com`)
	expect(`Get-Queue -Filter {-not (NextHopDomain -like '*.com')}`, "q", `MAIL\Outbound`)
	expect(`Get-Queue -Exclude Internal -SortOrder: -MessageCount,-NextHopDomain -ResultSize 2`, "q", `MAIL\tailspintoys.com`, `MAIL\fabrikam.com`)
	expect(`Get-Queue -Include SmtpDeliveryToMailbox`, "q")

	ids := map[string]string{} // subject -> identity
	var ms []control.Message
	if err := d.control(t, control.OpMessageGet, control.Selector{}, &ms); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		ids[m.Subject] = m.Identity
	}
	expect(`Get-Message -Filter "Recipients -like '*@tailspintoys.com' -and Size -gt 2KB"`, "m", ids["three"])
	expect(`Get-Message -Filter "Queue -eq 'MAIL\fabrikam.com'" -SortOrder +Subject`, "m", ids["one"], ids["two"])
	expect(`Get-Message -Filter {FromAddress -like '*@contoso.com' -and SCL -gt 3}`, "m")
	expect(`Get-Message -SortOrder: -Size,+Subject -ResultSize 2`, "m", ids["three"], ids["four"])

	run(`Suspend-Queue -Filter "NextHopDomain -eq 'tailspintoys.com'"`)
	expect(`Get-Queue -Filter {Status -eq 'Suspended'}`, "q", `MAIL\tailspintoys.com`)
	run(`Suspend-Message -Filter "Subject -eq 'one'"`)
	run(`Remove-Message -Filter {Queue -eq "MAIL\Outbound"} -WithNDR $false`)
	if got := out.String(); !strings.Contains(got, "Removed 1 message.") {
		t.Fatalf("Remove-Message said %q", got)
	}
	st := subjects()
	if len(st) != 3 || st["one"] != "Suspended" || st["two"] != "Retry" || st["three"] != "Retry" {
		t.Fatalf("after Suspend-Message and Remove-Message: %v", st)
	}
	run(`Resume-Queue -Filter "NextHopDomain -eq 'tailspintoys.com'"`)
	expect(`Get-Queue -Filter {Status -eq 'Suspended'}`, "q")

	// A misspelt property lists the valid ones and acts on nothing.
	out.Reset()
	err := sh.Run(`Remove-Message -Filter {Subjekt -eq 'two'}`)
	if err == nil || !strings.Contains(err.Error(), "valid properties: Identity, FromAddress, Status") {
		t.Fatalf("misspelt property: %v", err)
	}
	if len(subjects()) != 3 {
		t.Fatal("a filter that did not parse removed messages")
	}
}

// The example corpus of the queue and message cmdlets runs against a
// running daemon as each example's "# Expect:" line says.
func TestQueueCmdletExamples(t *testing.T) {
	d := startDaemon(t, nil)
	files, err := filepath.Glob("../admin/shell/testdata/examples/*.ps1")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, file := range files {
		base := filepath.Base(file)
		if !strings.Contains(base, "-Queue.") && !strings.Contains(base, "-Message.") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		sh := shell.New(d.cfgPath, &out)
		for _, ex := range strings.Split(string(src), "# Example: ")[1:] {
			name, rest, _ := strings.Cut(ex, "\n")
			expect, script, _ := strings.Cut(strings.TrimPrefix(rest, "# Expect: "), "\n")
			out.Reset()
			err := sh.Run(script)
			kind, text, _ := strings.Cut(expect, " ")
			switch kind {
			case "ok":
				if err != nil {
					t.Errorf("%s %s: %v", base, name, err)
				}
			case "warning":
				if err != nil || !strings.Contains(out.String(), text) {
					t.Errorf("%s %s: %v, output %q lacks %q", base, name, err, out.String(), text)
				}
			case "missing":
				if err == nil || !strings.Contains(err.Error(), text) {
					t.Errorf("%s %s: error %v, want one naming %s", base, name, err, text)
				}
			default:
				t.Errorf("%s %s: unknown expectation %q", base, name, expect)
			}
			ran++
		}
	}
	if ran < 20 {
		t.Fatalf("ran %d examples", ran)
	}
}
