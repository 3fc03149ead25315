# Get-DnsRecord (transportd's; `transportd dns records`): what to publish in DNS for a domain.
# Example: Get-DnsRecord for the default accepted domain
# Expect: ok
Get-DnsRecord

# Example: with the DKIM key
# Expect: ok
New-DkimSigningConfig -DomainName contoso.com -Enabled $true
Get-DnsRecord -DomainName contoso.com | Format-Table Type,Name,Value

# Example: a domain that is not accepted
# Expect: missing fabrikam.com
Get-DnsRecords -Domain fabrikam.com
