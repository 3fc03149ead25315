# Example: Suspend-Queue 1
# Expect: ok
Suspend-Queue -Filter "NextHopDomain -eq "contoso.com" -and Status -eq 'Retry'"

# Example: Suspend-Queue 2
# Expect: missing Server1.contoso.com
Suspend-Queue -Server Server1.contoso.com -Filter "MessageCount -gt 100"

# Example: Suspend-Queue syntax Identity
# Expect: missing MAIL\contoso.com
Suspend-Queue -Identity MAIL\contoso.com -Confirm:$false
