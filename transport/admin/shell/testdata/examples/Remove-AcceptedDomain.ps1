# Remove-AcceptedDomain: Microsoft's example (Exchange Server reference page), then the syntax block's
# parameters.

# Example: Remove-AcceptedDomain 1
# Expect: missing Contoso
Remove-AcceptedDomain Contoso

# Example: setup
# Expect: ok
New-AcceptedDomain -Name Contoso -DomainName contoso.org -DomainType Authoritative

# Example: Remove-AcceptedDomain 1 (Contoso exists)
# Expect: ok
Remove-AcceptedDomain Contoso -Confirm:$false

# Example: Remove-AcceptedDomain syntax: -WhatIf, -DomainController
# Expect: warning -DomainController ignored
New-AcceptedDomain -Name Fabrikam -DomainName fabrikam.org -DomainType ExternalRelay
Remove-AcceptedDomain -Identity Fabrikam -WhatIf -DomainController dc01.contoso.com
Remove-AcceptedDomain -Identity Fabrikam -Confirm:$false
