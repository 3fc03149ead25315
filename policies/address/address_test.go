package address

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRecipientAccepts(t *testing.T) {
	tests := []struct {
		in            string
		local, domain string
	}{
		{"user@contoso.com", "user", "contoso.com"},
		{"first.last+tag@sub.contoso.com", "first.last+tag", "sub.contoso.com"},
		{"o'brien@contoso.com", "o'brien", "contoso.com"},
		{"User@Contoso.COM", "User", "contoso.com"},
		{"a@b", "a", "b"}, // single-label domains are syntactically fine
		{"x-y_z@mail-1.contoso.co.uk", "x-y_z", "mail-1.contoso.co.uk"},
		// Every atext character except '%' and '!'.
		{"#$&'*+-/=?^_`{|}~@contoso.com", "#$&'*+-/=?^_`{|}~", "contoso.com"},
		{"postmaster@xn--bcher-kva.example", "postmaster", "xn--bcher-kva.example"},
		{"a@1.2.3.com", "a", "1.2.3.com"},
		{"a@123.example", "a", "123.example"},
		{strings.Repeat("l", 64) + "@contoso.com", strings.Repeat("l", 64), "contoso.com"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, err := ParseRecipient(tc.in)
			if err != nil {
				t.Fatalf("ParseRecipient: %v", err)
			}
			if a.Local != tc.local || a.Domain != tc.domain {
				t.Errorf("got %q @ %q, want %q @ %q", a.Local, a.Domain, tc.local, tc.domain)
			}
			if want := tc.local + "@" + tc.domain; a.String() != want {
				t.Errorf("String = %q, want %q", a.String(), want)
			}
			s, err := ParseSender(tc.in)
			if err != nil || s != a {
				t.Errorf("ParseSender = %v, %v", s, err)
			}
		})
	}
}

func TestParseRecipientRefuses(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", "empty address"},
		{"no at", "user", "missing '@'"},
		{"no at postmaster", "Postmaster", "missing '@'"},
		{"two ats", "a@b@contoso.com", "more than one '@'"},
		{"quoted local", `"a@b"@contoso.com`, "quoted local parts"},
		{"quoted simple", `"john doe"@contoso.com`, "spaces"},
		{"quoted no space", `"john"@contoso.com`, "quoted local parts"},
		{"percent hack", "user%fabrikam.com@contoso.com", "percent-hack"},
		{"percent at end", "user%@contoso.com", "percent-hack"},
		{"bang path", "fabrikam!user@contoso.com", "bang-path"},
		{"source route", "@a,@b:u@c", "source routes"},
		{"source route one hop", "@relay.contoso.com:user@fabrikam.com", "source routes"},
		{"colon in local", "a:b@contoso.com", "not allowed in the local part"},
		{"empty local", "@contoso.com", "source routes"},
		{"empty domain", "user@", "empty domain"},
		{"trailing dot domain", "user@contoso.com.", "ends with a dot"},
		{"leading dot domain", "user@.contoso.com", "empty label"},
		{"double dot domain", "user@contoso..com", "empty label"},
		{"underscore domain", "user@con_toso.com", "only letters, digits and hyphens"},
		{"hyphen start", "user@-contoso.com", "starts with a hyphen"},
		{"hyphen end", "user@contoso-.com", "ends with a hyphen"},
		{"hyphen end tld", "user@contoso.com-", "ends with a hyphen"},
		{"ipv4 literal", "u@[1.2.3.4]", "IP address literals"},
		{"ipv6 literal", "u@[IPv6:::1]", "IP address literals"},
		{"bare ipv4", "u@1.2.3.4", "bare IP address"},
		{"bare ipv6", "u@::1", "bare IP address"},
		{"bare ipv6 no double colon", "u@2001:db8:0:0:0:0:0:1", "bare IP address"},
		{"numeric tld", "u@1.2.3", "all-numeric top-level"},
		{"long local", strings.Repeat("l", 65) + "@contoso.com", "longer than 64"},
		{"long label", "u@" + strings.Repeat("a", 64) + ".com", "longer than 63"},
		{"long domain", "u@" + strings.Join([]string{long63, long63, long63, long63}, "."), "longer than 254"}, // the total limit is hit first
		{"long total", strings.Repeat("l", 64) + "@" + strings.Join([]string{long63, long63, long63}, ".") + ".abc", "longer than 254"},
		{"space", "first last@contoso.com", "spaces"},
		{"trailing space", "user@contoso.com ", "spaces"},
		{"tab", "user\t@contoso.com", "control characters"},
		{"crlf", "user@contoso.com\r\nRCPT TO:<x@y>", "control characters"},
		{"nul", "user\x00@contoso.com", "control characters"},
		{"del", "user\x7f@contoso.com", "control characters"},
		{"non-ascii local", "jürgen@contoso.com", "non-ASCII"},
		{"non-ascii domain", "user@bücher.example", "non-ASCII"},
		{"leading dot local", ".user@contoso.com", "starts with a dot"},
		{"trailing dot local", "user.@contoso.com", "ends with a dot"},
		{"double dot local", "first..last@contoso.com", "two dots"},
		{"backslash", `a\@b@contoso.com`, "more than one '@'"},
		{"backslash alone", `a\b@contoso.com`, "not allowed in the local part"},
		{"angle brackets", "<user@contoso.com>", "not allowed in the local part"},
		{"comment", "user(c)@contoso.com", "not allowed in the local part"},
		{"comma", "a,b@contoso.com", "not allowed in the local part"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseRecipient(tc.in)
			if err == nil {
				t.Fatalf("ParseRecipient(%q) = %+v, want error", tc.in, a)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if se.Address != tc.in {
				t.Errorf("SyntaxError.Address = %q, want %q", se.Address, tc.in)
			}
			if !strings.Contains(se.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", se.Reason, tc.reason)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Errorf("error text has control characters: %q", err.Error())
			}
			if _, err := ParseSender(tc.in); tc.in != "" && err == nil {
				t.Errorf("ParseSender(%q) accepted", tc.in)
			}
		})
	}
}

func TestParseSenderNull(t *testing.T) {
	a, err := ParseSender("")
	if err != nil || !a.IsZero() || a.String() != "" {
		t.Errorf("ParseSender(\"\") = %+v, %v", a, err)
	}
}

func TestSyntaxErrorText(t *testing.T) {
	tests := []struct {
		err  SyntaxError
		want string
	}{
		{SyntaxError{Address: "a%b@c", Reason: "nope"}, "a%b@c: nope"},
		{SyntaxError{Address: "", Reason: "empty address"}, "empty address"},
		{SyntaxError{Address: "a\r\nb", Reason: "r"}, `a\x0d\x0ab: r`},
		{SyntaxError{Address: strings.Repeat("x", 300), Reason: "r"}, strings.Repeat("x", 100) + "...: r"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func FuzzParseRecipient(f *testing.F) {
	for _, s := range []string{
		"user@contoso.com", "first.last+tag@sub.contoso.com", `"a@b"@c`, "a%b@c", "a!b@c",
		"@a,@b:u@c", "u@[1.2.3.4]", "u@[IPv6:::1]", "u@1.2.3.4", "u@c.", "u@-c.com", "", "a..b@c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseRecipient(s)
		if err != nil {
			if a != (Address{}) {
				t.Fatalf("error with non-zero address %+v", a)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if strings.ContainsAny(a.Local, "%!@\"") {
			t.Fatalf("accepted local part %q", a.Local)
		}
		if a.Local == "" || a.Domain == "" || strings.HasSuffix(a.Domain, ".") || strings.HasSuffix(a.Local, ".") {
			t.Fatalf("accepted %+v", a)
		}
		if a.Domain != strings.ToLower(a.Domain) || strings.ContainsAny(a.Domain, "[]:@") {
			t.Fatalf("accepted domain %q", a.Domain)
		}
		if len(a.String()) > MaxAddressLength || a.String() != a.Local+"@"+strings.ToLower(s[len(a.Local)+1:]) {
			t.Fatalf("String() = %q from %q", a.String(), s)
		}
		again, err := ParseRecipient(a.String())
		if err != nil || again != a {
			t.Fatalf("reparse of %q = %+v, %v", a.String(), again, err)
		}
	})
}

// TestParseMailbox: an address that names a mailbox here must be usable as
// its folder name under data/mailboxes (issue 8 item 8).
func TestParseMailbox(t *testing.T) {
	for _, ok := range []string{"alice@contoso.com", "first.last+tag@sub.contoso.com", "o'brien@contoso.com", "a_b-c@contoso.com"} {
		if _, err := ParseMailbox(ok); err != nil {
			t.Errorf("ParseMailbox(%q): %v", ok, err)
		}
	}
	tests := []struct{ in, reason string }{
		{"a/b@contoso.com", "'/' is not allowed"},
		{"../x@contoso.com", "starts with a dot"},
		{".x@contoso.com", "starts with a dot"},
		{"x@../contoso.com", "empty label"},
		{`"../x"@contoso.com`, "quoted local parts"},
		{"a..b@contoso.com", "two dots"},
		{"a\x00b@contoso.com", "control characters"},
		{"a\tb@contoso.com", "control characters"},
		{"x@contoso/com", "only letters, digits and hyphens"},
		{"x@192.0.2.1", "IP address"},
		{"x@contoso.123", "all-numeric"},
	}
	for _, tc := range tests {
		a, err := ParseMailbox(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseMailbox(%q) = %+v, %v; want an error mentioning %q", tc.in, a, err, tc.reason)
		}
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("ParseMailbox(%q) error %T is not a *SyntaxError", tc.in, err)
		}
	}
	if err := CheckDomain("contoso.com"); err != nil {
		t.Errorf("CheckDomain(contoso.com): %v", err)
	}
	for _, bad := range []string{"", "contoso.com.", "[192.0.2.1]", "1.2.3", "a..b", "a_b.com", "::1"} {
		if err := CheckDomain(bad); err == nil {
			t.Errorf("CheckDomain(%q) = nil, want an error", bad)
		}
	}
}

// FuzzParseMailbox checks that every accepted mailbox address, lower-cased
// as the mailbox folder name is, is one local path component: it cannot
// climb out of data/mailboxes or nest folders.
func FuzzParseMailbox(f *testing.F) {
	for _, s := range []string{"alice@contoso.com", "a/b@contoso.com", "x@../contoso.com", `"../x"@contoso.com`, "..@a.b", ".@a", "a\x00@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseMailbox(s)
		if err != nil {
			return
		}
		folder := strings.ToLower(a.String())
		if !filepath.IsLocal(folder) || filepath.Base(folder) != folder || filepath.Clean(folder) != folder ||
			strings.HasPrefix(folder, ".") || strings.ContainsAny(folder, "/\\\x00") {
			t.Fatalf("ParseMailbox accepted %q, whose folder %q is not one safe path component", s, folder)
		}
		if _, err := ParseRecipient(s); err != nil {
			t.Fatalf("ParseMailbox accepted %q, which ParseRecipient refuses: %v", s, err)
		}
	})
}
