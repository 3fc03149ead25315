# Microsoft's examples for Get-ReceiveConnector
# (learn.microsoft.com/powershell/module/exchange/get-receiveconnector).

# Example: Get-ReceiveConnector 1
# Expect: ok
Get-ReceiveConnector

# Example: Get-ReceiveConnector 2
# Expect: missing Contoso.com Receive Connector
Get-ReceiveConnector -Identity "Contoso.com Receive Connector" | Format-List

# Example: this server's default connectors by name
# Expect: ok
Get-ReceiveConnector -Identity "Client Frontend MAIL" | Format-List Name,Fqdn,Bindings
