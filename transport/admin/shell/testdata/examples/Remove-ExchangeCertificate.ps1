# Remove-ExchangeCertificate: Microsoft's examples (Exchange Server reference page), then the syntax
# block's parameters. Pending certificate requests are removed the same way.

# Example: Remove-ExchangeCertificate 1
# Expect: missing 5113ae0233a72fccb75b1d0198628675333d010e
Remove-ExchangeCertificate -Thumbprint 5113ae0233a72fccb75b1d0198628675333d010e

# Example: Remove-ExchangeCertificate 2
# Expect: missing Mailbox01
Remove-ExchangeCertificate -Server Mailbox01 -Thumbprint 5113ae0233a72fccb75b1d0198628675333d010e

# Example: setup
# Expect: ok
$old = New-ExchangeCertificate -SubjectName "CN=old.contoso.com" -Services None
$req = New-ExchangeCertificate -GenerateRequest -SubjectName "CN=new.contoso.com"

# Example: Remove-ExchangeCertificate syntax: a certificate and a pending request
# Expect: ok
Remove-ExchangeCertificate -Thumbprint $old.Thumbprint -Server MAIL -Confirm:$false
Remove-ExchangeCertificate $req.Thumbprint -Confirm:$false
