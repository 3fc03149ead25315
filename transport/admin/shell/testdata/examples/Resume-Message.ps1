# Example: Resume-Message 1
# Expect: missing Server1
Resume-Message -Server Server1 -Filter "FromAddress -eq 'kweku@contoso.com' -and ExpirationTime -lt '1/5/2018 3:00 PM'"

# Example: Resume-Message syntax Filter on this server
# Expect: ok
Resume-Message -Filter "FromAddress -eq 'kweku@contoso.com' -and ExpirationTime -lt '1/5/2018 3:00 PM'"

# Example: Resume-Message syntax Identity
# Expect: missing MAIL\contoso.com\1234
Resume-Message MAIL\contoso.com\1234 -Confirm:$false
