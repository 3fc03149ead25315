# Example: setup
# Expect: ok
New-SendConnector -Name "Contoso.com Send Connector" -AddressSpaces contoso.com

# Example: Get-SendConnector 1
# Expect: ok
Get-SendConnector

# Example: Get-SendConnector 2
# Expect: ok
Get-SendConnector "Contoso.com Send Connector" | Format-List

# Example: Get-SendConnector syntax: the outbound settings
# Expect: ok
Get-SendConnector -Identity "Contoso.com Send Connector" | Format-List Name,SourceIPAddress,ForceHELO,SmtpMaxMessagesPerConnection,ProtocolLoggingLevel,ErrorPolicies,UseExternalDNSServersEnabled
