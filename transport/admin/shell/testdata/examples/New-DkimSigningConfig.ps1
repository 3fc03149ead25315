# Microsoft's examples for New-DkimSigningConfig
# (learn.microsoft.com/powershell/module/exchange/new-dkimsigningconfig), and its syntax.
# DNS lookups go to a loopback server (nothing answers there: records show as not published).
# Example: setup
# Expect: ok
Set-TransportService -ExternalDNSServers 127.0.0.1

# Example: New-DkimSigningConfig 1
# Expect: warning publish Selector1Record
New-DkimSigningConfig -DomainName contoso.com -Enabled $true

# Example: syntax: a domain that is not accepted is refused with the fix
# Expect: missing fabrikam.com
New-DkimSigningConfig -DomainName fabrikam.com -Enabled $true

# Example: syntax: positional, KeySize, canonicalization, AdminDisplayName
# Expect: ok
New-AcceptedDomain -Name fabrikam.com -DomainName fabrikam.com
New-DkimSigningConfig fabrikam.com $false -KeySize 1024 -BodyCanonicalization Relaxed -HeaderCanonicalization Relaxed -AdminDisplayName "Fabrikam signing"

# Example: syntax: Ed25519 keys (RFC 8463)
# Expect: warning Ed25519
New-AcceptedDomain -Name tailspintoys.com -DomainName tailspintoys.com
New-DkimSigningConfig -DomainName tailspintoys.com -Enabled $true -KeyType Ed25519
