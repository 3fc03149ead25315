# Example: Retry-Queue 1
# Expect: ok
Retry-Queue -Filter "NextHopDomain -eq "contoso.com" -and Status -eq 'Retry'"

# Example: Retry-Queue syntax Identity, Resubmit
# Expect: missing MAIL\contoso.com
Retry-Queue -Identity MAIL\contoso.com -Resubmit $true -Confirm:$false

# Example: Retry-Queue syntax Filter, Server, Resubmit
# Expect: ok
Retry-Queue -Server mail.contoso.com -Filter {Status -eq 'Retry'} -Resubmit $true
