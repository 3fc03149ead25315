# Microsoft's examples for Get-IPBlockListProvider
# (learn.microsoft.com/powershell/module/exchange/get-ipblocklistprovider).
# Example: setup
# Expect: ok
Add-IPBlockListProvider -Name Contoso.com -LookupDomain blocklist.contoso.com

# Example: Get-IPBlockListProvider 1
# Expect: ok
Get-IPBlockListProvider

# Example: Get-IPBlockListProvider 2
# Expect: ok
Get-IPBlockListProvider -Identity Contoso.com

# Example: syntax: a provider that does not exist
# Expect: missing Fabrikam.com
Get-IPBlockListProvider Fabrikam.com
