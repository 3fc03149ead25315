# Example: setup
# Expect: ok
New-ReceiveConnector -Name "Internet Receive Connector" -Usage Custom -Bindings 127.0.0.1:2526 -RemoteIPRanges 192.168.0.1-192.168.0.24 -PermissionGroups AnonymousUsers

# Example: Set-ReceiveConnector 1
# Expect: ok
Set-ReceiveConnector -Identity "Internet Receive Connector" -Banner "220 SMTP OK" -ConnectionTimeout 00:15:00

# Example: Set-ReceiveConnector syntax: protocol switches
# Expect: ok
Set-ReceiveConnector "Internet Receive Connector" -ChunkingEnabled $true -BinaryMimeEnabled $true -EightBitMimeEnabled $true -SmtpUtf8Enabled $true -PipeliningEnabled $true -SizeEnabled EnabledWithoutValue -EnhancedStatusCodesEnabled $true -DeliveryStatusNotificationEnabled $true

# Example: Set-ReceiveConnector syntax: limits and checks
# Expect: ok
Set-ReceiveConnector "Internet Receive Connector" -MaxProtocolErrors 5 -MaxInboundConnectionPercentagePerSource 2 -MaxLocalHopCount 8 -BareLinefeedRejectionEnabled $true -RequireEHLODomain $true -LongAddressesEnabled $false -DefaultDomain contoso.com -RejectReservedTopLevelRecipientDomains $true -RejectReservedSecondLevelRecipientDomains $true -RejectSingleLabelRecipientDomains $true

# Example: Set-ReceiveConnector syntax: OrarEnabled is inert
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -OrarEnabled $false

# Example: Set-ReceiveConnector syntax: EnableAuthGSSAPI is inert
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -EnableAuthGSSAPI $false

# Example: Set-ReceiveConnector syntax: ExtendedProtectionPolicy is inert
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -ExtendedProtectionPolicy None

# Example: Set-ReceiveConnector syntax: DomainSecureEnabled is inert
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -DomainSecureEnabled $false

# Example: Set-ReceiveConnector syntax: SuppressXAnonymousTls, ServiceDiscoveryFqdn, MaxAcknowledgementDelay are inert
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -SuppressXAnonymousTls $true -ServiceDiscoveryFqdn mail.contoso.com -MaxAcknowledgementDelay 00:00:30

# Example: Set-ReceiveConnector syntax: TlsDomainCapabilities is inert
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -TlsDomainCapabilities "contoso.com:AcceptCloudServicesMail"

# Example: Set-ReceiveConnector syntax: AuthMechanism Integrated warns
# Expect: warning does nothing on Linux
Set-ReceiveConnector "Internet Receive Connector" -AuthMechanism "Tls, Integrated"

# Example: Set-ReceiveConnector syntax: AUTH on port 25 (Default Frontend)
# Expect: ok
Set-ReceiveConnector "Default Frontend MAIL" -AuthMechanism "Tls, BasicAuth, BasicAuthRequireTLS" -PermissionGroups "AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers"

# Example: cleanup
# Expect: ok
Remove-ReceiveConnector "Internet Receive Connector" -Confirm:$false
