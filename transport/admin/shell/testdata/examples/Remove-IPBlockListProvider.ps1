# Microsoft's examples for Remove-IPBlockListProvider
# (learn.microsoft.com/powershell/module/exchange/remove-ipblocklistprovider).
# Example: setup
# Expect: ok
Add-IPBlockListProvider -Name Contoso.com -LookupDomain blocklist.contoso.com

# Example: Remove-IPBlockListProvider 1 (Exchange Server 2013, 2016)
# Expect: ok
Remove-IPBlockListProvider Contoso.com

# Example: Remove-IPBlockListProvider 1 (Exchange Server 2010)
# Expect: missing Contoso.com
Remove-IPBlockListProvider -Identity Contoso.com
