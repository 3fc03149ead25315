package clientsettings

import (
	"bytes"
	"crypto/sha1"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// ---- Thunderbird autoconfig ----

// autoconfigXML is Thunderbird's config-v1.1.xml
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type autoconfigXML struct {
	XMLName  xml.Name         `xml:"clientConfig"`
	Version  string           `xml:"version,attr"`
	Provider autoconfigDomain `xml:"emailProvider"`
}

// autoconfigDomain is the emailProvider element.
type autoconfigDomain struct {
	ID               string             `xml:"id,attr"`
	Domains          []string           `xml:"domain"`
	DisplayName      string             `xml:"displayName"`
	DisplayShortName string             `xml:"displayShortName"`
	Incoming         []autoconfigServer `xml:"incomingServer"`
	Outgoing         []autoconfigServer `xml:"outgoingServer"`
}

// autoconfigServer is an incomingServer or outgoingServer element.
type autoconfigServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username,omitempty"`
}

func newAutoconfigServer(s Server) autoconfigServer {
	a := autoconfigServer{Type: s.Protocol, Hostname: s.Host, Port: s.Port, SocketType: string(s.Socket), Authentication: "none"}
	if s.Password {
		a.Authentication = "password-cleartext"
		a.Username = "%EMAILADDRESS%" // users log on with their primary SMTP address
	}
	return a
}

// Autoconfig returns the Thunderbird autoconfig document, or ErrNoIncoming.
func Autoconfig(s Settings) ([]byte, error) {
	in := s.Incoming()
	if len(in) == 0 {
		return nil, ErrNoIncoming
	}
	doc := autoconfigXML{Version: "1.1", Provider: autoconfigDomain{
		ID: s.DomainName, Domains: []string{s.DomainName}, DisplayName: s.DisplayName, DisplayShortName: shortName(s.DisplayName),
		Outgoing: []autoconfigServer{newAutoconfigServer(s.SMTP)},
	}}
	for _, srv := range in {
		doc.Provider.Incoming = append(doc.Provider.Incoming, newAutoconfigServer(srv))
	}
	return marshal(doc, "")
}

func shortName(display string) string {
	first, _, _ := strings.Cut(display, " ")
	return first
}

func marshal(v any, doctype string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(doctype)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// ---- Outlook autodiscover (POX) ----

// The namespaces of Outlook's plain-old-XML autodiscover.
const (
	AutodiscoverRequestNS       = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	AutodiscoverResponseNS      = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	AutodiscoverOutlookSchemaNS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// autodiscoverRequest is what Outlook POSTs.
type autodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// autodiscoverResponse is the POX answer.
type autodiscoverResponse struct {
	XMLName  xml.Name               `xml:"Autodiscover"`
	Xmlns    string                 `xml:"xmlns,attr"`
	Response autodiscoverResponseEl `xml:"Response"`
}

// autodiscoverResponseEl is the Response element: either User and Account or Error.
type autodiscoverResponseEl struct {
	Xmlns   string               `xml:"xmlns,attr,omitempty"`
	User    *autodiscoverUser    `xml:"User,omitempty"`
	Account *autodiscoverAccount `xml:"Account,omitempty"`
	Error   *autodiscoverError   `xml:"Error,omitempty"`
}

// autodiscoverUser is the User element.
type autodiscoverUser struct {
	DisplayName string `xml:"DisplayName"`
}

// autodiscoverAccount is the Account element.
type autodiscoverAccount struct {
	AccountType string                 `xml:"AccountType"`
	Action      string                 `xml:"Action"`
	Protocols   []autodiscoverProtocol `xml:"Protocol"`
}

// autodiscoverProtocol is one Protocol element (IMAP, POP3 or SMTP).
type autodiscoverProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName,omitempty"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
	UsePOPAuth     string `xml:"UsePOPAuth,omitempty"`
	SMTPLast       string `xml:"SMTPLast,omitempty"`
}

// autodiscoverError is the Error element.
type autodiscoverError struct {
	Time      string `xml:"Time,attr"`
	ID        string `xml:"Id,attr"`
	ErrorCode int    `xml:"ErrorCode"`
	Message   string `xml:"Message"`
	DebugData string `xml:"DebugData"`
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func newAutodiscoverProtocol(s Server, email string) autodiscoverProtocol {
	p := autodiscoverProtocol{Type: strings.ToUpper(s.Protocol), Server: s.Host, Port: s.Port, DomainRequired: "off", SPA: "off", AuthRequired: onOff(s.Password)}
	if s.Password {
		p.LoginName = email
	}
	// Encryption, when present, overrides SSL: None, SSL or TLS (STARTTLS).
	switch s.Socket {
	case SocketSSL:
		p.SSL, p.Encryption = "on", "SSL"
	case SocketSTARTTLS:
		p.SSL, p.Encryption = "on", "TLS"
	default:
		p.SSL, p.Encryption = "off", "None"
	}
	if p.Type == "SMTP" {
		p.UsePOPAuth = onOff(s.Password)
		p.SMTPLast = "off"
	}
	return p
}

// Autodiscover returns the Outlook POX response for email (which may be
// empty, for a GET without an address).
func Autodiscover(s Settings, email string) ([]byte, error) {
	acct := &autodiscoverAccount{AccountType: "email", Action: "settings"}
	for _, srv := range s.Incoming() {
		acct.Protocols = append(acct.Protocols, newAutodiscoverProtocol(srv, email))
	}
	acct.Protocols = append(acct.Protocols, newAutodiscoverProtocol(s.SMTP, email))
	display := email
	if display == "" {
		display = s.DisplayName
	}
	return marshal(autodiscoverResponse{Xmlns: AutodiscoverResponseNS, Response: autodiscoverResponseEl{
		Xmlns: AutodiscoverOutlookSchemaNS, User: &autodiscoverUser{DisplayName: display}, Account: acct,
	}}, "")
}

// AutodiscoverFailure returns the POX error response Exchange sends for a
// request it cannot answer (code 600 "Invalid Request", 601 "Provider is
// not available").
func AutodiscoverFailure(code int, message, debug, timeOfDay string) ([]byte, error) {
	return marshal(autodiscoverResponse{Xmlns: AutodiscoverResponseNS, Response: autodiscoverResponseEl{
		Error: &autodiscoverError{Time: timeOfDay, ID: "transportd", ErrorCode: code, Message: message, DebugData: debug},
	}}, "")
}

// ---- Apple configuration profile ----

// PlistDoctype is the DOCTYPE of Apple property lists.
const PlistDoctype = `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n"

// plist is an Apple XML property list around one dictionary.
type plist struct {
	XMLName xml.Name `xml:"plist"`
	Version string   `xml:"version,attr"`
	Dict    dict     `xml:"dict"`
}

// dict is an ordered plist dictionary; values are string, int, bool or
// []dict (an array of dictionaries).
type dict []entry

type entry struct {
	key string
	val any
}

// MarshalXML writes <key>k</key><type>v</type> pairs in order.
func (d dict) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, kv := range d {
		if err := e.EncodeElement(kv.key, xml.StartElement{Name: xml.Name{Local: "key"}}); err != nil {
			return err
		}
		var err error
		switch v := kv.val.(type) {
		case string:
			err = e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "string"}})
		case int:
			err = e.EncodeElement(strconv.Itoa(v), xml.StartElement{Name: xml.Name{Local: "integer"}})
		case bool:
			name := xml.Name{Local: "false"}
			if v {
				name.Local = "true"
			}
			err = e.EncodeElement(struct{}{}, xml.StartElement{Name: name})
		case []dict:
			arr := xml.StartElement{Name: xml.Name{Local: "array"}}
			if err = e.EncodeToken(arr); err != nil {
				return err
			}
			for _, sub := range v {
				if err = e.EncodeElement(sub, xml.StartElement{Name: xml.Name{Local: "dict"}}); err != nil {
					return err
				}
			}
			err = e.EncodeToken(arr.End())
		default:
			err = fmt.Errorf("plist: unsupported value %T for key %s", v, kv.key)
		}
		if err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// MobileConfigType is the content type of Apple configuration profiles.
const MobileConfigType = "application/x-apple-aspen-config"

// MobileConfig returns an unsigned Apple configuration profile with one
// com.apple.mail.managed payload for email, or ErrNoIncoming. The UUIDs are
// derived from the domain and address, so installing the profile again
// replaces the old one.
func MobileConfig(s Settings, email string) ([]byte, error) {
	in := s.Incoming()
	if len(in) == 0 {
		return nil, ErrNoIncoming
	}
	inc := in[0] // IMAP when configured
	acctType := "EmailTypeIMAP"
	if inc.Protocol == "pop3" {
		acctType = "EmailTypePOP"
	}
	auth := func(password bool) string {
		if password {
			return "EmailAuthPassword"
		}
		return "EmailAuthNone"
	}
	reverse := reverseDomain(s.DomainName)
	mail := dict{
		{"EmailAccountDescription", s.DisplayName},
		{"EmailAccountName", email},
		{"EmailAccountType", acctType},
		{"EmailAddress", email},
		{"IncomingMailServerAuthentication", auth(inc.Password)},
		{"IncomingMailServerHostName", inc.Host},
		{"IncomingMailServerPortNumber", inc.Port},
		// Apple's UseSSL means TLS, including STARTTLS on the plain port.
		{"IncomingMailServerUseSSL", inc.Socket != SocketPlain},
		{"IncomingMailServerUsername", email},
		{"OutgoingMailServerAuthentication", auth(s.SMTP.Password)},
		{"OutgoingMailServerHostName", s.SMTP.Host},
		{"OutgoingMailServerPortNumber", s.SMTP.Port},
		{"OutgoingMailServerUseSSL", s.SMTP.Socket != SocketPlain},
		{"OutgoingMailServerUsername", email},
		{"OutgoingPasswordSameAsIncomingPassword", s.SMTP.Password},
		{"PayloadDescription", "E-mail account " + email},
		{"PayloadDisplayName", s.DisplayName + " (" + email + ")"},
		{"PayloadIdentifier", reverse + ".transportd.mail." + nameUUID("mail", s.DomainName, email)},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", nameUUID("mail", s.DomainName, email)},
		{"PayloadVersion", 1},
	}
	profile := dict{
		{"PayloadContent", []dict{mail}},
		{"PayloadDescription", "Mail settings for " + email + " from transportd"},
		{"PayloadDisplayName", s.DisplayName},
		{"PayloadIdentifier", reverse + ".transportd.profile." + nameUUID("profile", s.DomainName, email)},
		{"PayloadOrganization", s.DisplayName},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", nameUUID("profile", s.DomainName, email)},
		{"PayloadVersion", 1},
	}
	return marshal(plist{Version: "1.0", Dict: profile}, PlistDoctype)
}

func reverseDomain(d string) string {
	labels := strings.Split(strings.ToLower(d), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}

// nameUUID is a name-based (version 5 style, SHA-1) UUID of parts, upper case as Apple writes them.
func nameUUID(parts ...string) string {
	sum := sha1.Sum([]byte("transportd\x00" + strings.ToLower(strings.Join(parts, "\x00"))))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}
