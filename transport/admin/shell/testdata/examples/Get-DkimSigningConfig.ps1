# Microsoft's examples for Get-DkimSigningConfig
# (learn.microsoft.com/powershell/module/exchange/get-dkimsigningconfig).
# DNS lookups go to a loopback server (nothing answers there: records show as not published).
# Example: setup
# Expect: ok
Set-TransportService -ExternalDNSServers 127.0.0.1
New-DkimSigningConfig -DomainName contoso.com -Enabled $true

# Example: Get-DkimSigningConfig 1
# Expect: ok
Get-DkimSigningConfig

# Example: Get-DkimSigningConfig 2
# Expect: ok
Get-DkimSigningConfig -Identity contoso.com | Format-List

# Example: the record to publish
# Expect: ok
Get-DkimSigningConfig contoso.com | Format-List Domain,Status,Selector1Name,Selector1Record,Selector1Published

# Example: an unknown domain
# Expect: missing fabrikam.com
Get-DkimSigningConfig -Identity fabrikam.com
