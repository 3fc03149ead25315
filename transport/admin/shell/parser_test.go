package shell

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		msg       string
	}{
		{`Get-ReceiveConnector "Client`, 1, 22, "not terminated"},
		{`$x = 'abc`, 1, 6, "not terminated"},
		{"Get-ReceiveConnector |", 1, 23, "expected a cmdlet after '|'"},
		{"Get-ReceiveConnector | | Format-List", 1, 24, "expected a cmdlet"},
		{"Get-X\n  Get-Y -A (Get-Z", 2, 18, "missing ')'"},
		{`Where-Object { $_.Name -eq 'a'`, 1, 31, "missing '}'"},
		{`$x = `, 1, 6, "missing value"},
		{`$x.Foo -zz 3`, 1, 8, "unknown operator -zz"},
		{"Get-X \"a $(Get-Y \"", 1, 18, "not terminated"},
		{"Get-X \"a $(Get-Y", 1, 10, "'$(' is not closed"},
		{`Get-X "$(Get-Y"`, 1, 15, "not terminated"},
		{`Get-X -A [int]`, 1, 10, "stands only before a value"},
		{`$ = 1`, 1, 1, "variable name"},
		{`Get-X a == b`, 1, 9, "'=='"},
		{"Get-X ||", 1, 7, "'||'"},
		{`Get-X $x.Foo(1`, 1, 15, "missing ')'"},
		{"Get-X\n\n   $y = 1 = 2", 3, 11, "unexpected '='"},
		{`Get-X )`, 1, 7, "unexpected ')'"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a syntax error", tt.src, err)
			continue
		}
		if se.Pos.Line != tt.line || se.Pos.Col != tt.col || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %q at %d:%d, want %q at %d:%d", tt.src, se.Msg, se.Pos.Line, se.Pos.Col, tt.msg, tt.line, tt.col)
		}
		if !strings.HasPrefix(err.Error(), "line ") {
			t.Errorf("error %q does not start with its position", err)
		}
	}
}

// show renders a parsed script compactly, for comparison.
func show(e any) string {
	switch x := e.(type) {
	case *Script:
		var parts []string
		for _, st := range x.Statements {
			s := show(st.Pipeline)
			if st.Assign != "" {
				s = "$" + st.Assign + "=" + s
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "; ")
	case *Pipeline:
		var parts []string
		if x.Expr != nil {
			parts = append(parts, show(x.Expr))
		}
		for _, c := range x.Commands {
			s := c.Name
			for _, a := range c.Args {
				switch {
				case a.Param != "" && a.Value != nil:
					s += " -" + a.Param + ":" + show(a.Value)
				case a.Param != "":
					s += " -" + a.Param
				default:
					s += " " + show(a.Value)
				}
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " | ")
	case *Word:
		return "w(" + x.Text + ")"
	case *Str:
		if x.Parts == nil {
			return "'" + x.Text + "'"
		}
		var sb strings.Builder
		sb.WriteString(`"`)
		for _, p := range x.Parts {
			switch {
			case p.Sub != nil:
				sb.WriteString("$(" + show(p.Sub) + ")")
			case p.Var != "":
				sb.WriteString("$" + p.Var)
			default:
				sb.WriteString(p.Lit)
			}
		}
		return sb.String() + `"`
	case *Var:
		return "$" + x.Name
	case *Member:
		return show(x.X) + "." + x.Name
	case *SubExpr:
		return "(" + show(x.Script) + ")"
	case *List:
		var parts []string
		for _, it := range x.Items {
			parts = append(parts, show(it))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *Block:
		return "{" + show(x.Script) + "}"
	case *Binary:
		return "(" + show(x.L) + " -" + x.Op + " " + show(x.R) + ")"
	case *Not:
		return "!" + show(x.X)
	}
	return "?"
}

func TestParse(t *testing.T) {
	tests := []struct{ src, want string }{
		{`Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -Fqdn mail.contoso.com`,
			`Get-ReceiveConnector -Identity 'Client Frontend*' | Set-ReceiveConnector -Fqdn w(mail.contoso.com)`},
		{`Get-ReceiveConnector -Identity "Client Frontend*" | Format-List Name,Fqdn`,
			`Get-ReceiveConnector -Identity 'Client Frontend*' | Format-List [w(Name),w(Fqdn)]`},
		{`$TLSCert = Get-ExchangeCertificate -Thumbprint 434AC224C8459924B26521298CE8834C514856AB`,
			`$TLSCert=Get-ExchangeCertificate -Thumbprint w(434AC224C8459924B26521298CE8834C514856AB)`},
		{`$TLSCertName = "<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)"`,
			`$TLSCertName="<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)"`},
		{`New-ReceiveConnector -Name "Anonymous Relay" -TransportRole FrontendTransport -Custom -Bindings 0.0.0.0:25 -RemoteIPRanges 192.168.5.10,192.168.5.0/24`,
			`New-ReceiveConnector -Name 'Anonymous Relay' -TransportRole w(FrontendTransport) -Custom -Bindings w(0.0.0.0:25) -RemoteIPRanges [w(192.168.5.10),w(192.168.5.0/24)]`},
		{`Get-ReceiveConnector "Anonymous Relay" | Add-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights "Ms-Exch-SMTP-Accept-Any-Recipient"`,
			`Get-ReceiveConnector 'Anonymous Relay' | Add-ADPermission -User 'NT AUTHORITY\ANONYMOUS LOGON' -ExtendedRights 'Ms-Exch-SMTP-Accept-Any-Recipient'`},
		{`Set-ReceiveConnector x -Enabled:$false -MaxMessageSize 35MB # comment`,
			`Set-ReceiveConnector w(x) -Enabled:$false -MaxMessageSize w(35MB)`},
		{`Get-X | Where-Object { $_.Enabled -eq $true -and $_.Name -like 'C*' } | Sort-Object Name`,
			`Get-X | Where-Object {(($_.Enabled -eq $true) -and ($_.Name -like 'C*'))} | Sort-Object w(Name)`},
		{"$a = 1; $b = 'it''s'\n$a", `$a=w(1); $b='it's'; $a`},
		{`"a $x b"`, `"a $x b"`},
		{`"say ""hi"" ` + "`" + `$x"`, `'say "hi" $x'`},
		{`(Get-X).Name`, `(Get-X).Name`},
		{`Get-X |` + "\n" + `  Format-List`, `Get-X | Format-List`},
		{`Get-X -Password -`, `Get-X -Password w(-)`},
		{`where { -not $_.Enabled }`, `where {!$_.Enabled}`},
		{`Get-X "$($a.B) $(Get-Y | Format-List)"`, `Get-X "$($a.B) $(Get-Y | Format-List)"`},
	}
	for _, tt := range tests {
		s, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := show(s); got != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
}

func TestPositions(t *testing.T) {
	s, err := Parse("Get-X\n  Set-Y  -Fqdn  \"a\"")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Statements[1].Pipeline.Commands[0]
	if c.Pos.Line != 2 || c.Pos.Col != 3 || c.Args[0].Pos.Col != 10 || c.Args[1].Pos.Col != 17 {
		t.Errorf("positions: cmd %v, param %v, value %v", c.Pos, c.Args[0].Pos, c.Args[1].Pos)
	}
	s, err = Parse("$x = \"ab\n$($y.Z)\"")
	if err != nil {
		t.Fatal(err)
	}
	part := s.Statements[0].Pipeline.Expr.(*Str).Parts[1]
	if m := part.Sub.Statements[0].Pipeline.Expr.(*Member); m.P.Line != 2 || m.P.Col != 5 {
		t.Errorf("subexpression member at %v, want 2:5", m.P)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -Fqdn mail.contoso.com`,
		`$TLSCertName = "<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)"`,
		`Get-X | Where-Object { $_.Enabled -eq $true -and -not ($_.Name -like 'C*') }`,
		"New-ReceiveConnector -Name 'a' -Custom -Bindings 0.0.0.0:25 -RemoteIPRanges 1.2.3.4,10.0.0.0/8 `\n -Enabled:$false",
		`"$("$("$(1)")")"`, `((((1))))`, `{ { } }`, "<# c #> x # y", `$x.a.b.c`, "a\r\nb;c",
		"Set-Mailbox kim -EmailAddresses @{Add=\"a@b\",'c@d'; Remove=@(\"e@f\")}\n@{\n a = 1\n b = @{c=2} }",
		`"$(@{a=@(1)})"`, `@(@(), @{})`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", src, err)
			}
			if se.Pos.Offset < 0 || se.Pos.Offset > len(src) || se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("Parse(%q): bad position %+v", src, se.Pos)
			}
			return
		}
		_ = show(s)
	})
}
