# Example: setup
# Expect: ok
New-AcceptedDomain -Name Contoso -DomainName contoso.org -DomainType Authoritative

# Example: Set-AcceptedDomain 1
# Expect: ok
Set-AcceptedDomain -Identity Contoso -MakeDefault $true

# Example: syntax DomainType
# Expect: ok
Set-AcceptedDomain -Identity Contoso -DomainType InternalRelay

# Example: syntax back to contoso.com
# Expect: ok
Set-AcceptedDomain -Identity contoso.com -MakeDefault $true
