package sendconnector

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// AuthOAuth is the SmartHostAuthMechanism that authenticates to smart hosts
// with an OAuth 2.0 access token (SASL XOAUTH2, or OAUTHBEARER of RFC 7628),
// as Microsoft 365 and Gmail want once Basic authentication is retired. The
// token comes from the identity provider with the client credentials grant
// (RFC 6749 section 4.4): a client secret, or a client assertion signed with
// a certificate of the store (RFC 7523 section 2.2); for a Google service
// account key, the JWT bearer grant (RFC 7523 section 2.1) for OAuthMailbox.
// Exchange has no such mechanism on send connectors; the parameter names
// (OAuthTenantId, OAuthClientId, ...) are transportd's.
const AuthOAuth = "OAuth"

// OAuth defaults.
const (
	// DefaultOAuthScope is Microsoft 365's scope for SMTP AUTH with the
	// client credentials grant.
	DefaultOAuthScope = "https://outlook.office365.com/.default"
	// GoogleMailScope is Gmail's scope for SMTP with a service account.
	GoogleMailScope = "https://mail.google.com/"
	// GoogleTokenEndpoint is Google's token endpoint, used for a service
	// account key that names none.
	GoogleTokenEndpoint = "https://oauth2.googleapis.com/token"
	// microsoftTokenEndpoint is Microsoft's global cloud, with the tenant
	// in place of %s.
	microsoftTokenEndpoint = "https://login.microsoftonline.com/%s/oauth2/v2.0/token"
)

// Secret is a value such as an OAuth client secret: kept in the data
// folder's secrets.yaml by the config package, never in the config file,
// and never printed. Its printed forms (String, GoString, LogValue) say
// only whether it is set.
type Secret string

// String prints "********" for a set secret and "" otherwise.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "********"
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return "sendconnector.Secret(" + s.String() + ")" }

// LogValue keeps slog from printing the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

var _ slog.LogValuer = Secret("")

// UsesOAuth reports whether the connector authenticates with OAuth 2.0.
func (c *SendConnector) UsesOAuth() bool { return c.AuthMechanism() == AuthOAuth }

// GoogleServiceAccount is the part of a Google service account key file
// (JSON, "type": "service_account") that the JWT bearer grant needs.
type GoogleServiceAccount struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// ServiceAccount returns the Google service account key given as
// OAuthClientSecret (the key file's JSON, piped in with -OAuthClientSecret -),
// or false when the secret is a plain client secret.
func (c *SendConnector) ServiceAccount() (GoogleServiceAccount, bool) {
	s := strings.TrimSpace(string(c.OAuthClientSecret))
	if !strings.HasPrefix(s, "{") {
		return GoogleServiceAccount{}, false
	}
	var k GoogleServiceAccount
	if err := json.Unmarshal([]byte(s), &k); err != nil || k.Type != "service_account" {
		return GoogleServiceAccount{}, false
	}
	return k, true
}

// OAuthEndpoint returns the token endpoint: OAuthTokenEndpoint, else the
// service account key's, else Microsoft's global cloud for OAuthTenantId.
func (c *SendConnector) OAuthEndpoint() string {
	if e := strings.TrimSpace(c.OAuthTokenEndpoint); e != "" {
		return e
	}
	if k, ok := c.ServiceAccount(); ok {
		if k.TokenURI != "" {
			return k.TokenURI
		}
		return GoogleTokenEndpoint
	}
	return fmt.Sprintf(microsoftTokenEndpoint, url.PathEscape(strings.TrimSpace(c.OAuthTenantId)))
}

// OAuthScopes returns the scopes to ask for: OAuthScope (space- or
// comma-separated), else Gmail's for a service account key, else Microsoft
// 365's.
func (c *SendConnector) OAuthScopes() []string {
	if s := strings.FieldsFunc(c.OAuthScope, func(r rune) bool { return r == ' ' || r == ',' }); len(s) > 0 {
		return s
	}
	if _, ok := c.ServiceAccount(); ok {
		return []string{GoogleMailScope}
	}
	return []string{DefaultOAuthScope}
}

// OAuthUser returns the user name given in XOAUTH2 and OAUTHBEARER:
// OAuthMailbox, else the AuthenticationCredential's user name.
func (c *SendConnector) OAuthUser() string {
	if m := strings.TrimSpace(c.OAuthMailbox); m != "" {
		return m
	}
	return c.AuthenticationCredential.UserName
}

// validateOAuth checks the OAuth settings of a connector with
// SmartHostAuthMechanism OAuth.
func (c *SendConnector) validateOAuth(bad func(param string, val any, format string, args ...any)) {
	if c.DNSRoutingEnabled {
		bad("SmartHostAuthMechanism", AuthOAuth, "authentication is for smart hosts; it requires -DNSRoutingEnabled $false")
	}
	if !c.RequireTLS {
		// A bearer token is as good as a password: never in clear.
		bad("SmartHostAuthMechanism", AuthOAuth, "OAuth sends a bearer token, which must never go in clear: add -RequireTLS $true")
	}
	sa, isSA := c.ServiceAccount()
	hasSecret := strings.TrimSpace(string(c.OAuthClientSecret)) != ""
	hasCert := strings.TrimSpace(c.OAuthCertificateThumbprint) != ""
	switch {
	case isSA:
		if sa.ClientEmail == "" || sa.PrivateKey == "" {
			bad("OAuthClientSecret", c.OAuthClientSecret, "the Google service account key has no client_email or private_key")
		}
		if c.OAuthUser() == "" {
			bad("OAuthMailbox", "", "a Google service account sends as a mailbox of the domain: give -OAuthMailbox user@domain")
		}
	case hasSecret && hasCert:
		bad("OAuthCertificateThumbprint", c.OAuthCertificateThumbprint, "give either -OAuthClientSecret or -OAuthCertificateThumbprint, not both (-OAuthClientSecret $null clears the secret)")
	case !hasSecret && !hasCert:
		bad("OAuthClientSecret", "", "OAuth needs the app registration's client secret (-OAuthClientSecret -, read from standard input) or a certificate of the store (-OAuthCertificateThumbprint)")
	}
	if !isSA && strings.TrimSpace(c.OAuthClientId) == "" {
		bad("OAuthClientId", "", "OAuth needs the app registration's client (application) id")
	}
	if !isSA && strings.TrimSpace(c.OAuthTenantId) == "" && strings.TrimSpace(c.OAuthTokenEndpoint) == "" {
		bad("OAuthTenantId", "", "OAuth needs the directory (tenant) id, or -OAuthTokenEndpoint")
	}
	if e := strings.TrimSpace(c.OAuthTokenEndpoint); e != "" {
		u, err := url.Parse(e)
		switch {
		case err != nil || u.Host == "":
			bad("OAuthTokenEndpoint", e, "not an absolute URL such as https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token")
		case u.Scheme != "https":
			bad("OAuthTokenEndpoint", e, "must be https: the token request carries the client's credentials")
		}
	}
	if m := strings.TrimSpace(c.OAuthMailbox); m != "" && (strings.ContainsAny(m, "\x00\x01\r\n ,") || !strings.Contains(m, "@")) {
		bad("OAuthMailbox", m, "must be a mailbox address such as relay@contoso.com")
	}
	if !isSA && c.OAuthUser() == "" {
		bad("OAuthMailbox", "", "XOAUTH2 names the mailbox that sends: give -OAuthMailbox relay@contoso.com")
	}
}
