package sendconnector

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// SmartHost is one entry of a send connector's SmartHosts: a host name or an
// IP address, with an optional port that overrides the connector's Port.
//
// Text forms: "mail.contoso.com", "mail.contoso.com:587", "192.0.2.1",
// "[192.0.2.1]", "[192.0.2.1]:587", "[2001:db8::1]", "[::1]:25". An IP in
// brackets is used as is, without DNS (as IIS's smart host setting).
type SmartHost struct {
	// Host is a domain name (lower case, no trailing dot) or, when Addr is
	// valid, the address's text.
	Host string
	// Addr is the IP address when the smart host is given as one.
	Addr netip.Addr
	// Port is 0 when the connector's Port applies.
	Port int
}

// ParseSmartHost reads one smart host in a text form described on SmartHost.
func ParseSmartHost(s string) (SmartHost, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return SmartHost{}, fmt.Errorf("smart host %q: empty", s)
	}
	host, portText := t, ""
	switch {
	case strings.HasPrefix(t, "["):
		end := strings.IndexByte(t, ']')
		if end < 0 {
			return SmartHost{}, fmt.Errorf("smart host %q: missing ']'", s)
		}
		host = t[1:end]
		rest := t[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return SmartHost{}, fmt.Errorf("smart host %q: only \":port\" may follow ']'", s)
			}
			portText = p
		}
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" {
			return SmartHost{}, fmt.Errorf("smart host %q: %q in brackets is not an IP address", s, host)
		}
	case strings.Count(t, ":") > 1: // a bare IPv6 address, which cannot carry a port
		if _, err := netip.ParseAddr(t); err != nil {
			return SmartHost{}, fmt.Errorf("smart host %q: not an IPv6 address; write [address]:port for a port", s)
		}
	default:
		if h, p, ok := strings.Cut(t, ":"); ok {
			host, portText = h, p
		}
	}
	sh := SmartHost{}
	if portText != "" || strings.HasSuffix(t, ":") {
		n, err := strconv.Atoi(portText)
		if err != nil || n < 1 || n > 65535 || portText != strconv.Itoa(n) {
			return SmartHost{}, fmt.Errorf("smart host %q: port %q must be a number from 1 to 65535", s, portText)
		}
		sh.Port = n
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return SmartHost{}, fmt.Errorf("smart host %q: IPv6 zones are not supported", s)
		}
		sh.Addr = a.Unmap()
		sh.Host = sh.Addr.String()
		return sh, nil
	}
	d := normalizeDomain(host)
	if err := checkHostname(d); err != nil {
		return SmartHost{}, fmt.Errorf("smart host %q: %w", s, err)
	}
	sh.Host = d
	return sh, nil
}

// IsIP reports whether the smart host is an IP address rather than a name.
func (h SmartHost) IsIP() bool { return h.Addr.IsValid() }

// String writes the canonical text form: IP addresses in brackets, the port
// only when it was given.
func (h SmartHost) String() string {
	s := h.Host
	if h.IsIP() {
		s = "[" + h.Addr.String() + "]"
	}
	if h.Port != 0 {
		s += ":" + strconv.Itoa(h.Port)
	}
	return s
}

// Address returns "host:port" for dialling, with defaultPort when the smart
// host has no port of its own.
func (h SmartHost) Address(defaultPort int) string {
	p := h.Port
	if p == 0 {
		p = defaultPort
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(p))
}

// MarshalText writes String's form.
func (h SmartHost) MarshalText() ([]byte, error) {
	if _, err := ParseSmartHost(h.String()); err != nil {
		return nil, err
	}
	return []byte(h.String()), nil
}

// UnmarshalText reads a text form described on SmartHost.
func (h *SmartHost) UnmarshalText(b []byte) error {
	v, err := ParseSmartHost(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// SmartHosts is the ordered list of smart hosts: the first is tried first,
// the others in turn when it cannot be reached. Text form: entries
// separated by commas.
type SmartHosts []SmartHost

// ParseSmartHosts reads a comma-separated list of smart hosts. A blank
// string is an empty list; an empty entry or a repeated host is an error.
func ParseSmartHosts(s string) (SmartHosts, error) {
	if strings.TrimSpace(s) == "" || strings.EqualFold(strings.TrimSpace(s), "$null") { // -SmartHosts $null clears the list
		return SmartHosts{}, nil
	}
	parts := strings.Split(s, ",")
	out := make(SmartHosts, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for i, p := range parts {
		h, err := ParseSmartHost(p)
		if err != nil {
			return nil, fmt.Errorf("smart host list entry %d: %w", i+1, err)
		}
		if seen[h.String()] {
			return nil, fmt.Errorf("smart host list entry %d: %s is listed twice", i+1, h)
		}
		seen[h.String()] = true
		out = append(out, h)
	}
	return out, nil
}

// String joins the entries with ", ".
func (l SmartHosts) String() string {
	parts := make([]string, len(l))
	for i, h := range l {
		parts[i] = h.String()
	}
	return strings.Join(parts, ", ")
}

// MarshalText writes String's form.
func (l SmartHosts) MarshalText() ([]byte, error) {
	for _, h := range l {
		if _, err := h.MarshalText(); err != nil {
			return nil, err
		}
	}
	return []byte(l.String()), nil
}

// UnmarshalText reads a list with ParseSmartHosts.
func (l *SmartHosts) UnmarshalText(b []byte) error {
	v, err := ParseSmartHosts(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
