// Package mtasts implements the sending side of SMTP MTA Strict Transport
// Security (RFC 8461): it discovers a recipient domain's policy through
// the "_mta-sts" TXT record, fetches it over HTTPS from the "mta-sts" host
// with certificate validation, caches it for its max_age (in memory and,
// when a file is given, across restarts), and answers which MX hosts a
// policy allows.
package mtasts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's "mode" (RFC 8461 section 3.2).
type Mode string

// The policy modes.
const (
	// Enforce: deliver only to MX hosts that match the policy and present
	// a valid certificate for their name.
	Enforce Mode = "enforce"
	// Testing: deliver as usual, report failures (TLS-RPT).
	Testing Mode = "testing"
	// None: the domain has no active policy.
	None Mode = "none"
)

// maxMaxAge is the largest max_age RFC 8461 section 3.2 allows: 31557600
// seconds (about one year).
const maxMaxAge = 31557600

// Policy is a parsed MTA-STS policy.
type Policy struct {
	Mode   Mode          `json:"mode"`
	MX     []string      `json:"mx"`
	MaxAge time.Duration `json:"max_age"`
}

// Parse reads a policy body (RFC 8461 section 3.2): "key: value" lines
// separated by CRLF or LF; version STSv1, mode, max_age and (unless mode
// is none) at least one mx are required; unknown keys are ignored.
func Parse(body []byte) (*Policy, error) {
	var p Policy
	var version, mode, maxAge bool
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), len(body)+1)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("policy line %q is not \"key: value\"", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("policy version %q is not STSv1", v)
			}
			version = true
		case "mode":
			switch Mode(v) {
			case Enforce, Testing, None:
			default:
				return nil, fmt.Errorf("policy mode %q is not enforce, testing or none", v)
			}
			p.Mode, mode = Mode(v), true
		case "max_age":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || len(v) > 10 || n > maxMaxAge {
				return nil, fmt.Errorf("policy max_age %q is not a number of seconds up to %d", v, maxMaxAge)
			}
			p.MaxAge, maxAge = time.Duration(n)*time.Second, true
		case "mx":
			if v == "" || strings.ContainsAny(v, " \t") {
				return nil, fmt.Errorf("policy mx %q is not a host name pattern", v)
			}
			p.MX = append(p.MX, strings.TrimSuffix(strings.ToLower(v), "."))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	switch {
	case !version:
		return nil, errors.New("policy has no version: STSv1 line")
	case !mode:
		return nil, errors.New("policy has no mode line")
	case !maxAge:
		return nil, errors.New("policy has no max_age line")
	case len(p.MX) == 0 && p.Mode != None:
		return nil, errors.New("policy has no mx line")
	}
	return &p, nil
}

// Match reports whether the MX host name mx is allowed by the policy
// (RFC 8461 section 4.1): an exact match, or "*.example.com" matching
// exactly one more label to the left ("mx1.example.com", not
// "a.b.example.com" nor "example.com"). Comparison is case-insensitive.
func (p *Policy) Match(mx string) bool {
	mx = strings.TrimSuffix(strings.ToLower(mx), ".")
	for _, pat := range p.MX {
		if base, ok := strings.CutPrefix(pat, "*."); ok {
			label, rest, found := strings.Cut(mx, ".")
			if found && label != "" && rest == base {
				return true
			}
			continue
		}
		if pat == mx {
			return true
		}
	}
	return false
}
