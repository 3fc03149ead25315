# Example: New-SendConnector 1
# Expect: ok
New-SendConnector -Internet -Name MySendConnector -AddressSpaces contoso.com,fabrikam.com

# Example: New-SendConnector 2
# Expect: ok
# Stdin: relay@contoso.com
# Stdin: Pa55word!
$CredentialObject = Get-Credential; New-SendConnector -Name "Secure Email to Contoso.com" -AddressSpaces contoso.com -AuthenticationCredential $CredentialObject -SmartHostAuthMechanism BasicAuth

# Example: New-SendConnector syntax: -Usage Partner requires TLS
# Expect: ok
New-SendConnector -Name "Partner fabrikam" -Usage Partner -AddressSpaces "SMTP:fabrikam.net;1"

# Example: New-SendConnector syntax: smart host with the Set1 parameters
# Expect: ok
New-SendConnector -Name "Smart host" -Custom -AddressSpaces * -SmartHosts relay.contoso.com -DNSRoutingEnabled $false -Port 25 -ConnectionInactivityTimeOut 00:05:00 -MaxMessageSize 20MB -ProtocolLoggingLevel Verbose -SmtpMaxMessagesPerConnection 50 -SourceIPAddress 0.0.0.0 -ForceHELO $false -ErrorPolicies Default -UseExternalDNSServersEnabled $false -Fqdn mail.contoso.com -Comment "relay" -Enabled $true -IgnoreSTARTTLS $false -RequireTLS $false -Force

# Example: New-SendConnector syntax: Active Directory and hybrid parameters
# Expect: warning does nothing here
New-SendConnector -Name "Scoped" -AddressSpaces tailspintoys.com -IsScopedConnector $true -SourceTransportServers MAIL -DomainSecureEnabled $false -CloudServicesMailEnabled $false -FrontendProxyEnabled $false
