# Example: syntax InternalRelay (Microsoft's example 1 names Contoso.com, which the default configuration already has)
# Expect: ok
New-AcceptedDomain -DomainName Fabrikam.com -DomainType InternalRelay -Name Fabrikam

# Example: syntax ExternalRelay and MakeDefault
# Expect: ok
New-AcceptedDomain -DomainName tailspintoys.com -DomainType ExternalRelay -Name Tailspin -MakeDefault $false
