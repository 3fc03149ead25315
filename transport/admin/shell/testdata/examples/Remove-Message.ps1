# Example: Remove-Message 1
# Expect: missing Server1
Remove-Message -Server Server1 -Filter {FromAddress -eq "Kweku@contoso.com"} -WithNDR $false

# Example: Remove-Message syntax Filter on this server
# Expect: ok
Remove-Message -Server MAIL -Filter {FromAddress -eq "Kweku@contoso.com"} -WithNDR $false -Confirm:$false

# Example: Remove-Message syntax Identity
# Expect: missing MAIL\contoso.com\1234
Remove-Message -Identity MAIL\contoso.com\1234 -WithNDR $true
