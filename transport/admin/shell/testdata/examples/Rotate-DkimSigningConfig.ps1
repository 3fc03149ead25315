# Microsoft's examples for Rotate-DkimSigningConfig
# (learn.microsoft.com/powershell/module/exchange/rotate-dkimsigningconfig), and its syntax.
# Example: setup
# Expect: ok
Set-TransportService -ExternalDNSServers 127.0.0.1
New-DkimSigningConfig -DomainName contoso.com -Enabled $true

# Example: Rotate-DkimSigningConfig 1
# Expect: warning selector2._domainkey.contoso.com
Rotate-DkimSigningConfig -Identity contoso.com

# Example: syntax: the key size of the new key, from the pipeline
# Expect: warning selector2._domainkey.contoso.com
Remove-DkimSigningConfig contoso.com
New-DkimSigningConfig -DomainName contoso.com -Enabled $true -KeySize 1024
Get-DkimSigningConfig contoso.com | Rotate-DkimSigningConfig -KeySize 2048

# Example: an unknown domain
# Expect: missing fabrikam.com
Rotate-DkimSigningConfig -Identity fabrikam.com
