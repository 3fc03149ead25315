# Enable-ExchangeCertificate: Microsoft's example (Exchange Server reference page), then the syntax
# block's parameters. IIS-only switches are accepted with a warning saying why they do nothing.

# Example: Enable-ExchangeCertificate 1
# Expect: missing 5113ae0233a72fccb75b1d0198628675333d010e
Enable-ExchangeCertificate -Thumbprint 5113ae0233a72fccb75b1d0198628675333d010e -Services POP,IMAP,SMTP,IIS

# Example: setup
# Expect: ok
$c = New-ExchangeCertificate -SubjectName "CN=pop.contoso.com" -DomainName pop.contoso.com -Services None

# Example: Enable-ExchangeCertificate syntax: by thumbprint
# Expect: ok
Enable-ExchangeCertificate -Thumbprint $c.Thumbprint -Services POP,IMAP,SMTP,IIS -Force -Server MAIL -Confirm:$false

# Example: Enable-ExchangeCertificate syntax: piped, with the IIS switches
# Expect: warning does nothing here
Get-ExchangeCertificate -DomainName pop.contoso.com | Enable-ExchangeCertificate -Services SMTP -DoNotRequireSsl -NetworkServiceAllowed
