package connector

import (
	"context"
	"errors"
	"testing"
)

// fakeHosts is a resolver with an /etc/hosts of its own: no test depends on
// the machine's name service.
type fakeHosts struct {
	hostname string
	cname    map[string]string
	hosts    map[string][]string // name -> addresses
	addrs    map[string][]string // address -> names, canonical first
}

func (f fakeHosts) lookup() HostLookup {
	notFound := errors.New("no such host")
	return HostLookup{
		Hostname: func() (string, error) { return f.hostname, nil },
		LookupCNAME: func(_ context.Context, h string) (string, error) {
			if c, ok := f.cname[h]; ok {
				return c, nil
			}
			return "", notFound
		},
		LookupHost: func(_ context.Context, h string) ([]string, error) {
			if a, ok := f.hosts[h]; ok {
				return a, nil
			}
			return nil, notFound
		},
		LookupAddr: func(_ context.Context, a string) ([]string, error) {
			if n, ok := f.addrs[a]; ok {
				return n, nil
			}
			return nil, notFound
		},
	}
}

// The FQDN is found as "hostname -f" finds it, and a host without one
// keeps its short name (which the daemon then warns about).
func TestHostLookupFQDN(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    fakeHosts
		want string
	}{
		{"host name already qualified", fakeHosts{hostname: "Mail.Contoso.com"}, "mail.contoso.com"},
		{"canonical name from the resolver", fakeHosts{hostname: "vm", cname: map[string]string{"vm": "vm.contoso.com."}}, "vm.contoso.com"},
		// Debian's installer writes "127.0.1.1 mail.contoso.com mail".
		{"/etc/hosts line", fakeHosts{hostname: "mail",
			cname: map[string]string{"mail": "mail."},
			hosts: map[string][]string{"mail": {"127.0.1.1"}},
			addrs: map[string][]string{"127.0.1.1": {"mail.contoso.com.", "mail."}}}, "mail.contoso.com"},
		{"localhost is not our name", fakeHosts{hostname: "vm",
			hosts: map[string][]string{"vm": {"127.0.0.1"}},
			addrs: map[string][]string{"127.0.0.1": {"localhost.localdomain", "vm"}}}, "vm"},
		{"no domain anywhere", fakeHosts{hostname: "vm"}, "vm"},
		{"no host name", fakeHosts{}, "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.lookup().FQDN(context.Background()); got != tc.want {
				t.Fatalf("FQDN = %q, want %q", got, tc.want)
			}
		})
	}
	if IsQualified("vm") || !IsQualified("vm.contoso.com") || IsQualified("vm.") {
		t.Fatal("IsQualified")
	}
}
