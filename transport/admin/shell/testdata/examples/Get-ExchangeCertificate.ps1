# Get-ExchangeCertificate: Microsoft's examples (Exchange Server reference page), then the syntax
# block's parameters. Pending certificate requests are listed with Status PendingRequest.

# Example: setup
# Expect: ok
New-ExchangeCertificate -SubjectName "CN=mail.contoso.com" -DomainName mail.contoso.com,smtp.contoso.com -Services SMTP
New-ExchangeCertificate -GenerateRequest -SubjectName "C=US, O=Contoso, CN=mail.contoso.com" -DomainName mail.contoso.com

# Example: Get-ExchangeCertificate 1
# Expect: missing Mailbox01
Get-ExchangeCertificate -Server Mailbox01

# Example: Get-ExchangeCertificate 2
# Expect: missing 0271A7F1CA9AD8A27152CCAE044F968F068B14B8
Get-ExchangeCertificate -Thumbprint 0271A7F1CA9AD8A27152CCAE044F968F068B14B8 | Format-List

# Example: Get-ExchangeCertificate 3
# Expect: missing 0271A7F1CA9AD8A27152CCAE044F968F068B14B8
Get-ExchangeCertificate -Thumbprint 0271A7F1CA9AD8A27152CCAE044F968F068B14B8 | Format-List *

# Example: Get-ExchangeCertificate 4
# Expect: ok
Get-ExchangeCertificate -DomainName mail.contoso.com

# Example: Get-ExchangeCertificate syntax: this server, several names, a list
# Expect: ok
Get-ExchangeCertificate -Server MAIL -DomainName mail.contoso.com,smtp.contoso.com | Format-List Thumbprint,Services,Status,CertificateDomains,NotAfter

# Example: Get-ExchangeCertificate syntax: pending requests and one by thumbprint
# Expect: ok
$pending = Get-ExchangeCertificate | Where-Object {$_.Status -eq "PendingRequest"} | Select-Object -First 1
Get-ExchangeCertificate -Thumbprint $pending.Thumbprint | Format-List Subject,Status,CertificateRequest
