# Example: Suspend-Message 1
# Expect: missing Server1
Suspend-Message -Server Server1 -Filter "FromAddress -eq 'kweku@contoso.com'"

# Example: Suspend-Message syntax Filter on this server
# Expect: ok
Suspend-Message -Server MAIL -Filter "FromAddress -eq 'kweku@contoso.com'" -Confirm:$false

# Example: Suspend-Message syntax Identity
# Expect: missing MAIL\contoso.com\1234
Suspend-Message -Identity MAIL\contoso.com\1234
