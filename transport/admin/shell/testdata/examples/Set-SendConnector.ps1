# Example: setup
# Expect: ok
New-SendConnector -Name "Contoso.com Send Connector" -AddressSpaces contoso.com

# Example: Set-SendConnector 1
# Expect: ok
Set-SendConnector "Contoso.com Send Connector" -MaxMessageSize 10MB -ConnectionInactivityTimeOut 00:15:00

# Example: Set-SendConnector syntax: the outbound connection
# Expect: ok
Set-SendConnector -Identity "Contoso.com Send Connector" -SourceIPAddress 127.0.0.1 -ForceHELO $true -SmtpMaxMessagesPerConnection 10 -ProtocolLoggingLevel Verbose -ErrorPolicies DowngradeDnsFailures -Port 25 -Confirm:$false

# Example: Set-SendConnector syntax: smart hosts with a credential
# Expect: ok
# Stdin: relay@contoso.com
# Stdin: Pa55word!
$cred = Get-Credential
Set-SendConnector "Contoso.com Send Connector" -SmartHosts relay.contoso.com -DNSRoutingEnabled $false -ForceHELO $false -SmartHostAuthMechanism BasicAuthRequireTLS -AuthenticationCredential $cred

# Example: Set-SendConnector syntax: external DNS servers
# Expect: warning ExternalDNSServers
Set-SendConnector "Contoso.com Send Connector" -SmartHosts $null -DNSRoutingEnabled $true -SmartHostAuthMechanism None -UseExternalDNSServersEnabled $true

# Example: Set-SendConnector syntax: parameters without meaning here
# Expect: warning does nothing here
Set-SendConnector "Contoso.com Send Connector" -IsScopedConnector $false -RequireOorg $false -IsCoexistenceConnector $false

# Example: Set-SendConnector missing
# Expect: missing Internet Send Connector
Set-SendConnector "Internet Send Connector" -Enabled $false
