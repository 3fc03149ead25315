# New-ReceiveConnector -Usage Submissions: transportd's usage for message submission over implicit TLS
# (RFC 8314, port 465): Client Frontend's settings with ImplicitTls $true. ImplicitTls is a parameter
# of New- and Set-ReceiveConnector for any connector; connectors sharing a binding must agree on it.

# Example: New-ReceiveConnector Submissions
# Expect: ok
New-ReceiveConnector -Name "Submissions" -Usage Submissions -Bindings 0.0.0.0:465

# Example: New-ReceiveConnector Submissions shown
# Expect: ok
Get-ReceiveConnector "Submissions" | Format-List Name,Bindings,ImplicitTls,AuthMechanism,PermissionGroups

# Example: New-ReceiveConnector syntax: implicit TLS on a custom connector
# Expect: ok
New-ReceiveConnector -Name "Devices TLS" -Usage Custom -Bindings 0.0.0.0:2465 -RemoteIPRanges 192.168.5.0/24 -PermissionGroups AnonymousUsers -ImplicitTls $true

# Example: Set-ReceiveConnector syntax: ImplicitTls
# Expect: ok
Set-ReceiveConnector "Devices TLS" -ImplicitTls $false
