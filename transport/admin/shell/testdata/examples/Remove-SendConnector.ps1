# Example: setup
# Expect: ok
New-SendConnector -Name "Contoso.com Send Connector" -AddressSpaces contoso.com

# Example: Remove-SendConnector 1
# Expect: ok
Remove-SendConnector "Contoso.com Send Connector"

# Example: Remove-SendConnector syntax: -Confirm:$false
# Expect: missing Contoso.com Send Connector
Remove-SendConnector -Identity "Contoso.com Send Connector" -Confirm:$false
