# Example: New-ReceiveConnector 1
# Expect: ok
New-ReceiveConnector -Name Test -Usage Custom -Bindings 10.10.1.1:25 -RemoteIPRanges 192.168.0.1-192.168.0.24

# Example: cleanup (10.10.1.1 is not an address of this machine)
# Expect: ok
Remove-ReceiveConnector Test -Confirm:$false

# Example: New-ReceiveConnector syntax: Partner with protocol switches
# Expect: ok
New-ReceiveConnector -Name "Partner Fabrikam" -Partner -Bindings 127.0.0.1:2527 -RemoteIPRanges 192.168.1.0/24 -ChunkingEnabled $true -SmtpUtf8Enabled $true -SizeEnabled Enabled -RequireTLS $true -MaxLocalHopCount 8

# Example: New-ReceiveConnector syntax: inert parameters warn
# Expect: warning does nothing on Linux
New-ReceiveConnector -Name "Hybrid" -Usage Custom -Bindings 127.0.0.1:2528 -RemoteIPRanges 192.168.2.0/24 -TlsDomainCapabilities "contoso.com:AcceptCloudServicesMail" -DomainSecureEnabled $true

# Example: cleanup
# Expect: ok
Remove-ReceiveConnector "Partner Fabrikam" -Confirm:$false

# Example: cleanup
# Expect: ok
Remove-ReceiveConnector "Hybrid" -Confirm:$false
