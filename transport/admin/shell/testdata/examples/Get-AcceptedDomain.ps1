# Get-AcceptedDomain: Microsoft's examples (Exchange Server reference page), then the syntax block's
# parameters.

# Example: Get-AcceptedDomain 1
# Expect: ok
Get-AcceptedDomain

# Example: Get-AcceptedDomain 2
# Expect: ok
Get-AcceptedDomain | Where{$_.DomainType -eq 'Authoritative'}

# Example: Get-AcceptedDomain syntax: -Identity
# Expect: ok
Get-AcceptedDomain -Identity contoso.com | Format-List Name,DomainName,DomainType,Default

# Example: Get-AcceptedDomain syntax: -DomainController
# Expect: warning -DomainController ignored
Get-AcceptedDomain contoso.com -DomainController dc01.contoso.com

# Example: Get-AcceptedDomain of a domain that does not exist
# Expect: missing fabrikam.com
Get-AcceptedDomain fabrikam.com
