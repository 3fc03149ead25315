package shell

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/value"
)

// Issue 10 items 2 and 3: what the send connector, transport service and
// transport config cmdlets store, and what they refuse at set time.

func TestSendConnectorParametersStored(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	sh.SetVar("cred", &Credential{User: "relay@contoso.com", Password: "Pa55word!"})
	runOK(t, sh, `New-SendConnector -Name "Smart host" -AddressSpaces * -SmartHosts relay.contoso.com -SmartHostAuthMechanism BasicAuthRequireTLS -AuthenticationCredential $cred -SourceIPAddress 127.0.0.2 -SmtpMaxMessagesPerConnection 7 -ProtocolLoggingLevel Verbose -ErrorPolicies DowngradeDnsFailures -UseExternalDNSServersEnabled $true`)
	out := runOK(t, sh, `Get-SendConnector "Smart host" | Format-List AuthenticationCredential`)
	if strings.Contains(out, "Pa55word") || !strings.Contains(out, "relay@contoso.com (password set)") {
		t.Errorf("Get-SendConnector shows %q", out)
	}
	c := loadConfig(t, path)
	sc := c.SendConnectors[0]
	if sc.AuthenticationCredential.UserName != "relay@contoso.com" || sc.AuthenticationCredential.Password != "Pa55word!" ||
		sc.SourceIPAddress != "127.0.0.2" || sc.SmtpMaxMessagesPerConnection != 7 || sc.ProtocolLoggingLevel != "Verbose" ||
		sc.ErrorPolicies != "DowngradeDnsFailures" || !sc.UseExternalDNSServersEnabled || sc.DNSRoutingEnabled {
		t.Errorf("stored %+v", sc)
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), "Pa55word") {
		t.Error("the password is in the config file")
	}
	// -Partner requires TLS, as Exchange's Partner usage.
	runOK(t, sh, `New-SendConnector -Name P -Partner -AddressSpaces fabrikam.com`)
	if c := loadConfig(t, path); !c.SendConnectors[1].RequireTLS {
		t.Error("-Partner: RequireTLS not set")
	}
}

func TestSendConnectorRefusedAtSetTime(t *testing.T) {
	sh := New(newConfig(t), nil)
	runOK(t, sh, `New-SendConnector -Name Out -AddressSpaces *`)
	for _, c := range []struct{ src, want string }{
		{`Set-SendConnector Out -SourceIPAddress 192.0.2.77`, "not an address of this machine"},
		{`Set-SendConnector Out -SourceIPAddress mail.contoso.com`, "not an IP address"},
		{`Set-SendConnector Out -ForceHELO $true -RequireTLS $true`, "-RequireTLS"},
		{`Set-SendConnector Out -ErrorPolicies Sometimes`, "DowngradeDnsFailures"},
		{`Set-SendConnector Out -ProtocolLoggingLevel Low`, "None or Verbose"},
		{`New-SendConnector -Name X -Usage Outer -AddressSpaces *`, "Internet"},
		{`New-SendConnector -Name X -Internet -Partner -AddressSpaces *`, "conflicts"},
	} {
		if got := runErr(t, sh, c.src); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want it to say %q", c.src, got, c.want)
		}
	}
}

func TestTransportServiceSettingsStored(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	runOK(t, sh, `Set-TransportService MAIL -TransientFailureRetryCount 3 -TransientFailureRetryInterval 00:00:30 -MaxPerDomainOutboundConnections 7 -SendProtocolLogPath sendlogs -ReceiveProtocolLogMaxFileSize 5MB -ExternalDNSServers 127.0.0.1:5353`)
	c := loadConfig(t, path)
	if c.Transport.TransientFailureRetryAttempts != 3 || c.Transport.TransientFailureRetryInterval != value.TimeSpan(30*time.Second) ||
		c.Transport.MaxPerQueueConcurrency != 7 || c.Logging.ProtocolLogMaxFileSize != 5*value.MB ||
		c.ProtocolLogDir(true) != filepath.Join(c.DataDir(), "sendlogs") || len(c.Transport.ExternalDNSServers) != 1 {
		t.Errorf("stored Transport %+v Logging %+v", c.Transport, c.Logging)
	}
	// The send protocol log's size follows the receive one until set.
	if ts := c.TransportService(); ts.SendProtocolLogMaxFileSize != 5*value.MB {
		t.Errorf("SendProtocolLogMaxFileSize %v, want 5MB (following ReceiveProtocolLogMaxFileSize)", ts.SendProtocolLogMaxFileSize)
	}
	// The old names keep working, in the same storage place.
	runOK(t, sh, `Set-TransportConfig -TransientFailureRetryAttempts 4`)
	if out := runOK(t, sh, `Get-TransportService | Format-List TransientFailureRetryCount`); !strings.Contains(out, ": 4") {
		t.Errorf("Get-TransportService after Set-TransportConfig -TransientFailureRetryAttempts 4: %q", out)
	}
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cs := range []struct{ src, want string }{
		{`Set-TransportService MAIL -MessageTrackingLogPath ` + file, "is a file"},
		{`Set-TransportService MAIL -ExternalDNSServers dns.contoso.com`, "not an IP address"},
		{`Set-TransportService MAIL -SendProtocolLogMaxFileSize 1KB`, "64KB"},
		{`Set-TransportService MAIL -MaxConcurrentMailboxDeliveries 0`, "MaxConcurrentMailboxDeliveries"},
		{`Set-TransportService Mailbox01 -MessageRetryInterval 00:05:00`, "this server is MAIL"},
		{`Set-TransportConfig -MaxSendSize 0`, "Unlimited"},
	} {
		if got := runErr(t, sh, cs.src); !strings.Contains(got, cs.want) {
			t.Errorf("%s: %q, want it to say %q", cs.src, got, cs.want)
		}
	}
	// A Windows path is not saved.
	out := runOK(t, sh, `Set-TransportService MAIL -ReceiveProtocolLogPath "C:\SMTP Protocol Logs\Receive.log"`)
	if !strings.Contains(out, "WARNING:") || strings.Count(strings.TrimSpace(out), "\n") > 1 {
		t.Errorf("output %q: want one warning line (and the change line)", out)
	}
	if c := loadConfig(t, path); c.Logging.ReceiveProtocolLogPath != "" {
		t.Errorf("Windows path saved: %q", c.Logging.ReceiveProtocolLogPath)
	}
}
