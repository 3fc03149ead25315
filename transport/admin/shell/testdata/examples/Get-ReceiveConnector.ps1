# Example: setup
# Expect: ok
New-ReceiveConnector -Name "Receive Connector for Contoso.com" -Usage Custom -Bindings 127.0.0.1:2529 -RemoteIPRanges 192.168.3.0/24

# Example: Get-ReceiveConnector 1
# Expect: ok
Get-ReceiveConnector -Identity "Receive Connector for Contoso.com" | Format-List

# Example: Get-ReceiveConnector 1 (Exchange 2010/2013)
# Expect: ok
Get-ReceiveConnector "Receive Connector for Contoso.com" | Format-List

# Example: Get-ReceiveConnector 2
# Expect: missing Exchange01
Get-ReceiveConnector -Server Exchange01

# Example: Get-ReceiveConnector 2 (Exchange 2010/2013)
# Expect: missing Hub1
Get-ReceiveConnector -Server Hub1

# Example: Get-ReceiveConnector syntax: this server
# Expect: ok
Get-ReceiveConnector -Server MAIL

# Example: cleanup
# Expect: ok
Remove-ReceiveConnector "Receive Connector for Contoso.com" -Confirm:$false
