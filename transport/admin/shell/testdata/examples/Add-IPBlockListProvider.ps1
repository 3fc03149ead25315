# Microsoft's examples for Add-IPBlockListProvider
# (learn.microsoft.com/powershell/module/exchange/add-ipblocklistprovider), and its syntax.
# Example: Add-IPBlockListProvider 1 (Exchange Server 2010)
# Expect: ok
Add-IPBlockListProvider -Name NewIpBlockListProvider -LookupDomain Contoso.com -RejectionResponse "Originating IP address matched to Contoso.com's IP Block List provider service"

# Example: Add-IPBlockListProvider 1
# Expect: ok
Add-IPBlockListProvider -Name "Contoso.com Block List" -LookupDomain blocklist.contoso.com -RejectionResponse "Source IP address is listed at the Contoso.com block list provider"

# Example: Add-IPBlockListProvider 2
# Expect: ok
Add-IPBlockListProvider -Name "Fabrikam.com Block List" -LookupDomain blocklist.fabrikam.com -BitmaskMatch 127.1.0.1

# Example: syntax: -IPAddressesMatch, -AnyMatch, -Priority, -Enabled, positional -Name
# Expect: ok
Add-IPBlockListProvider Spamhaus -LookupDomain zen.spamhaus.org -IPAddressesMatch 127.0.0.2,127.0.0.3 -Priority 1 -Enabled $true
Add-IPBlockListProvider -Name "Any answer" -LookupDomain any.example.org -AnyMatch $true -Enabled $false
