package certs

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseCertificateName(t *testing.T) {
	const tp = "3D5A1C0B9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B"
	tests := []struct {
		name    string
		in      string
		want    CertificateName
		wantErr string
	}{
		{name: "issuer subject", in: "<I>CN=Contoso CA, O=Contoso, C=US<S>CN=mail.contoso.com",
			want: CertificateName{Issuer: "CN=Contoso CA, O=Contoso, C=US", Subject: "CN=mail.contoso.com"}},
		{name: "lower-case markers and spaces", in: "  <i> CN=ca <s> CN=mail  ",
			want: CertificateName{Issuer: "CN=ca", Subject: "CN=mail"}},
		{name: "thumbprint upper", in: tp, want: CertificateName{Thumbprint: tp}},
		{name: "thumbprint lower", in: strings.ToLower(tp), want: CertificateName{Thumbprint: tp}},
		{name: "thumbprint with spaces", in: "3d 5a 1c 0b 9e 8f 7a 6b 5c 4d 3e 2f 1a 0b 9c 8d 7e 6f 5a 4b", want: CertificateName{Thumbprint: tp}},
		{name: "thumbprint with colons", in: "3D:5A:1C:0B:9E:8F:7A:6B:5C:4D:3E:2F:1A:0B:9C:8D:7E:6F:5A:4B", want: CertificateName{Thumbprint: tp}},
		{name: "thumbprint with LRM mark", in: "\u200e" + tp, want: CertificateName{Thumbprint: tp}},
		{name: "empty", in: "  ", wantErr: "empty"},
		{name: "short thumbprint", in: tp[:39], wantErr: "39 hex digits"},
		{name: "long thumbprint", in: tp + "0", wantErr: "41 hex digits"},
		{name: "not hex", in: "ZZ" + tp[2:], wantErr: "not a hex digit"},
		{name: "no subject marker", in: "<I>CN=ca", wantErr: "no <S>"},
		{name: "empty issuer", in: "<I> <S>CN=mail", wantErr: "empty issuer"},
		{name: "empty subject", in: "<I>CN=ca<S>", wantErr: "empty subject"},
		{name: "subject first", in: "<S>CN=mail<I>CN=ca", wantErr: "must start with <I>"},
		{name: "plain text", in: "mail.contoso.com", wantErr: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCertificateName(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCertificateName(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCertificateName(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseCertificateName(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestEqualDN(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"CN=a,O=b", "CN=a, O=b", true},
		{"CN=a, O=b", "cn=A,o=B", true},
		{"CN=mail.contoso.com, O=Contoso, C=US", "CN=mail.contoso.com,O=Contoso,C=US", true},
		{"CN=a, S=WA", "CN=a, ST=WA", true},
		{"CN=a, E=x@y", "CN=a, emailAddress=x@y", true},
		{`CN=a, O="Contoso, Ltd"`, `CN=a,O=Contoso\, Ltd`, true},
		{`CN=a, O="Contoso, Ltd"`, `CN=a, O=Contoso, Ltd`, false},
		{"CN=a, O=b", "O=b, CN=a", false},
		{"CN=a", "CN=b", false},
		{"CN=a", "CN=a, O=b", false},
	}
	for _, tt := range tests {
		if got := EqualDN(tt.a, tt.b); got != tt.want {
			t.Errorf("EqualDN(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

var upperHex40 = regexp.MustCompile(`^[0-9A-F]{40}$`)

func FuzzParseCertificateName(f *testing.F) {
	for _, s := range []string{
		"<I>CN=Contoso CA, O=Contoso, C=US<S>CN=mail.contoso.com",
		"<i>cn=a<s>cn=b",
		"3D5A1C0B9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B",
		"3d:5a:1c:0b:9e:8f:7a:6b:5c:4d:3e:2f:1a:0b:9c:8d:7e:6f:5a:4b",
		"", "<I>", "<S>", "<I><S>", " <I> x <S> y <S> z",
		"\u200e3d 5a 1c 0b 9e 8f 7a 6b 5c 4d 3e 2f 1a 0b 9c 8d 7e 6f 5a 4b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCertificateName(s)
		if err != nil {
			if n != (CertificateName{}) {
				t.Fatalf("error %v with non-zero result %+v", err, n)
			}
			return
		}
		hasName := n.Issuer != "" || n.Subject != ""
		hasThumb := n.Thumbprint != ""
		if hasName == hasThumb {
			t.Fatalf("ParseCertificateName(%q) = %+v: want exactly one of name or thumbprint", s, n)
		}
		if hasThumb && !upperHex40.MatchString(n.Thumbprint) {
			t.Fatalf("thumbprint %q is not 40 upper-case hex digits", n.Thumbprint)
		}
		if hasName && (n.Issuer == "" || n.Subject == "") {
			t.Fatalf("name %+v has an empty part", n)
		}
		// Re-parsing the formatted name gives the same result.
		again, err := ParseCertificateName(n.String())
		if err != nil {
			t.Fatalf("re-parse %q: %v", n.String(), err)
		}
		if again != n {
			t.Fatalf("re-parse %q = %+v, want %+v", n.String(), again, n)
		}
		// Comparing a name with itself never fails or panics.
		if hasName && !EqualDN(n.Issuer, n.Issuer) {
			t.Fatalf("EqualDN(%q, itself) is false", n.Issuer)
		}
	})
}
