# Microsoft's examples for Set-IPBlockListProvider
# (learn.microsoft.com/powershell/module/exchange/set-ipblocklistprovider), and its syntax.
# Example: setup
# Expect: ok
Add-IPBlockListProvider -Name Spamhaus -LookupDomain zen.spamhaus.org
Add-IPBlockListProvider -Name Contoso.com -LookupDomain blocklist.contoso.com

# Example: Set-IPBlockListProvider 1
# Expect: ok
Set-IPBlockListProvider Contoso.com -AnyMatch $true

# Example: Set-IPBlockListProvider 2
# Expect: ok
Set-IPBlockListProvider Contoso.com -Priority 1

# Example: syntax: every parameter
# Expect: ok
Set-IPBlockListProvider -Identity Spamhaus -BitmaskMatch 127.0.0.2 -IPAddressesMatch 127.0.0.2,127.0.0.4 -LookupDomain zen.spamhaus.org -Name "Spamhaus ZEN" -Priority 2 -RejectionResponse "Listed at Spamhaus, see https://check.spamhaus.org" -Enabled $true -AnyMatch $false

