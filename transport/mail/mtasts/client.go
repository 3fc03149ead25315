package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

// Limits of a policy fetch (RFC 8461 section 3.3 recommends a timeout
// and a maximum size; 64 KiB is what Postfix's and Go's resolvers use).
const (
	fetchTimeout   = 30 * time.Second
	maxPolicyBytes = 64 << 10
)

// TXTResolver looks up TXT records. *net.Resolver implements it.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Options configure a Client.
type Options struct {
	// Resolver looks up the "_mta-sts" TXT records (and, unless DialContext
	// is set, the policy host's address); nil: net.DefaultResolver.
	Resolver TXTResolver
	// CacheFile keeps the cached policies across restarts (in the data
	// folder); "": memory only.
	CacheFile string
	// DialContext, when set, opens the connections to policy hosts: tests
	// send them to an HTTPS server on loopback. nil: a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verify the policy hosts' certificates; nil: the system roots.
	RootCAs *x509.CertPool
	// HTTPClient, when set and returning a client, fetches the policies
	// instead of the built-in one (tests: an HTTPS server on loopback);
	// redirects are still refused and the time limit still applies.
	HTTPClient func() *http.Client
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// entry is one cached policy.
type entry struct {
	ID      string    `json:"id"`
	Policy  Policy    `json:"policy"`
	Fetched time.Time `json:"fetched"`
}

// Client discovers, fetches and caches MTA-STS policies. It is safe for
// concurrent use.
type Client struct {
	o    Options
	http *http.Client

	mu    sync.Mutex
	cache map[string]entry // by domain
}

// New returns a Client, loading o.CacheFile when it exists.
func New(o Options) *Client {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dial := o.DialContext
	if dial == nil {
		d := &net.Dialer{Timeout: fetchTimeout}
		if r, ok := o.Resolver.(*net.Resolver); ok {
			d.Resolver = r
		}
		dial = d.DialContext
	}
	tr := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout: fetchTimeout,
		DisableKeepAlives:   true,
		Proxy:               nil, // never through a proxy from the environment
	}
	c := &Client{o: o, cache: map[string]entry{}, http: &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		// RFC 8461 section 3.3: "HTTP 3xx redirects MUST NOT be followed".
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the policy host answered with a redirect, which RFC 8461 forbids following")
		},
	}}
	if o.CacheFile != "" {
		if b, err := os.ReadFile(o.CacheFile); err == nil {
			if err := json.Unmarshal(b, &c.cache); err != nil {
				o.Logger.Warn("MTA-STS policy cache unreadable; starting empty", "file", o.CacheFile, "err", err)
				c.cache = map[string]entry{}
			}
		}
	}
	return c
}

// Result is what Lookup found for a domain.
type Result struct {
	// Policy is the policy to apply; nil when the domain has none.
	Policy *Policy
	// ID is the policy's TXT id.
	ID string
	// Cached is set when the policy came from the cache.
	Cached bool
	// Note explains a problem met on the way (a failed fetch, a bad
	// record), for the logs and TLS reports; "" when none.
	Note string
}

// Lookup returns the policy for domain following RFC 8461 section 5.1: a
// cached, unexpired policy whose TXT id has not changed is used as is;
// a new id (or an expired policy) is fetched; when no live policy can be
// discovered or fetched, an unexpired cached one still applies.
func (c *Client) Lookup(ctx context.Context, domain string) Result {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	now := c.o.Now()
	c.mu.Lock()
	cached, have := c.cache[domain]
	c.mu.Unlock()
	valid := have && now.Before(cached.Fetched.Add(cached.Policy.MaxAge))
	fromCache := func(note string) Result {
		if !valid {
			return Result{Note: note}
		}
		p := cached.Policy
		return Result{Policy: &p, ID: cached.ID, Cached: true, Note: note}
	}
	id, err := c.txtID(ctx, domain)
	if err != nil {
		return fromCache(err.Error())
	}
	if id == "" {
		return fromCache("")
	}
	if valid && id == cached.ID {
		return fromCache("")
	}
	p, err := c.fetch(ctx, domain)
	if err != nil {
		c.o.Logger.Warn("MTA-STS policy fetch failed", "domain", domain, "err", err)
		return fromCache(err.Error())
	}
	e := entry{ID: id, Policy: *p, Fetched: now}
	c.store(domain, e)
	return Result{Policy: p, ID: id}
}

// txtID reads "_mta-sts.<domain>" (RFC 8461 section 3.1): the id of the
// one record starting "v=STSv1"; "" when there is no such record.
func (c *Client) txtID(ctx context.Context, domain string) (string, error) {
	txts, err := c.o.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return "", nil
		}
		return "", fmt.Errorf("MTA-STS TXT lookup for %s failed: %w", domain, err)
	}
	var ids []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1") {
			continue
		}
		id := ""
		for f := range strings.SplitSeq(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if k == "id" {
				id = strings.TrimSpace(v)
			}
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 0:
		return "", nil
	case len(ids) > 1:
		return "", fmt.Errorf("_mta-sts.%s has %d v=STSv1 records; RFC 8461 section 3.1 wants one", domain, len(ids))
	case ids[0] == "" || len(ids[0]) > 32:
		return "", fmt.Errorf("_mta-sts.%s has no valid id", domain)
	}
	return ids[0], nil
}

// fetch gets https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461
// section 3.3): a validated certificate for the host, status 200,
// text/plain, no redirects, at most 64 KiB.
func (c *Client) fetch(ctx context.Context, domain string) (*Policy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("MTA-STS policy of %s: %w", domain, err)
	}
	hc := c.http
	if c.o.HTTPClient != nil {
		if x := c.o.HTTPClient(); x != nil {
			cp := *x
			cp.CheckRedirect, cp.Timeout = c.http.CheckRedirect, fetchTimeout
			hc = &cp
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the MTA-STS policy of %s: %w", domain, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: HTTP status %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
			return nil, fmt.Errorf("fetching %s: media type %q is not text/plain", url, ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	if len(body) > maxPolicyBytes {
		return nil, fmt.Errorf("fetching %s: policy larger than %d bytes", url, maxPolicyBytes)
	}
	p, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("MTA-STS policy at %s: %w", url, err)
	}
	return p, nil
}

// store caches e for domain and writes the cache file (under the lock,
// so that writes land in order; policies change rarely).
func (c *Client) store(domain string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache[domain] = e
	if c.o.CacheFile == "" {
		return
	}
	b, err := json.MarshalIndent(c.cache, "", "  ")
	if err == nil {
		err = durable.WriteFile(c.o.CacheFile, b, 0o600)
	}
	if err != nil {
		c.o.Logger.Warn("cannot save the MTA-STS policy cache", "file", c.o.CacheFile, "err", err)
	}
}
