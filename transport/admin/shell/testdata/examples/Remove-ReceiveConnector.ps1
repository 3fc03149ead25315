# Example: setup
# Expect: ok
New-ReceiveConnector -Name "Contoso.com Receive Connector" -Usage Custom -Bindings 127.0.0.1:2530 -RemoteIPRanges 192.168.4.0/24

# Example: Remove-ReceiveConnector 1
# Expect: ok
Remove-ReceiveConnector -Identity "Contoso.com Receive Connector"

# Example: Remove-ReceiveConnector syntax
# Expect: missing Contoso.com Receive Connector
Remove-ReceiveConnector "Contoso.com Receive Connector" -Confirm:$false
