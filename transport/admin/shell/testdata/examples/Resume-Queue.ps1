# Example: Resume-Queue 1
# Expect: missing Server1.contoso.com
Resume-Queue -Server Server1.contoso.com -Filter "NextHopDomain -eq 'Fourthcoffee.com'"

# Example: Resume-Queue syntax Filter on this server
# Expect: ok
Resume-Queue -Server MAIL -Filter "NextHopDomain -eq 'Fourthcoffee.com'"

# Example: Resume-Queue syntax Identity
# Expect: missing MAIL\contoso.com
Resume-Queue MAIL\contoso.com
