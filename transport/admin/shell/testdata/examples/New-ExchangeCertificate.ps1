# New-ExchangeCertificate: Microsoft's examples (Exchange Server reference page), then the syntax
# block's parameters. A file named by a Windows path (-RequestFile "C:\...") is written under its name
# in the data folder's files/ folder, with a warning saying where.

# Example: New-ExchangeCertificate 1
# Expect: ok
New-ExchangeCertificate

# Example: New-ExchangeCertificate 2
# Expect: warning is a Windows path
New-ExchangeCertificate -GenerateRequest -RequestFile "C:\Cert Requests\woodgrovebank.req" -SubjectName "c=US,o=Woodgrove Bank,cn=mail.woodgrovebank.com" -DomainName autodiscover.woodgrovebank.com,mail.fabrikam.com,autodiscover.fabrikam.com

# Example: New-ExchangeCertificate 3
# Expect: missing c4248cd7065c87cb942d60f7293feb7d533a4afc
Get-ExchangeCertificate -Thumbprint c4248cd7065c87cb942d60f7293feb7d533a4afc | New-ExchangeCertificate -PrivateKeyExportable $true

# Example: New-ExchangeCertificate 4
# Expect: missing 8A141F7F2BBA8041973399723BD2598D2ED2D831
Get-ExchangeCertificate -Thumbprint 8A141F7F2BBA8041973399723BD2598D2ED2D831 | New-ExchangeCertificate -GenerateRequest -RequestFile "C:\Cert Requests\fabrikam_renewal.req"

# Example: New-ExchangeCertificate 5
# Expect: missing c4248cd7065c87cb942d60f7293feb7d533a4afc
Get-ExchangeCertificate -Thumbprint c4248cd7065c87cb942d60f7293feb7d533a4afc | New-ExchangeCertificate

# Example: New-ExchangeCertificate syntax: self-signed (Set1)
# Expect: ok
New-ExchangeCertificate -SubjectName "C=US, O=Contoso, CN=smtp.contoso.com" -DomainName smtp.contoso.com,relay.contoso.com -Services SMTP -FriendlyName "Contoso relay" -KeySize 4096 -PrivateKeyExportable $true -Force -Server MAIL -Confirm:$false

# Example: New-ExchangeCertificate syntax: request (Set2)
# Expect: warning is a Windows path
New-ExchangeCertificate -GenerateRequest -BinaryEncoded -RequestFile "C:\Cert Requests\contoso.der" -SubjectName "C=US, CN=mail.contoso.com" -IncludeAcceptedDomains -IncludeAutoDiscover -IncludeServerFQDN -IncludeServerNetBIOSName -KeySize 2048 -FriendlyName "Contoso 2026"

# Example: New-ExchangeCertificate syntax: renewal of a piped certificate
# Expect: ok
Get-ExchangeCertificate -DomainName smtp.contoso.com | New-ExchangeCertificate -PrivateKeyExportable $true -Force

# Example: New-ExchangeCertificate syntax: renewal request for a piped certificate
# Expect: warning is a Windows path
Get-ExchangeCertificate -DomainName relay.contoso.com | Select-Object -First 1 | New-ExchangeCertificate -GenerateRequest -RequestFile "C:\Cert Requests\relay_renewal.req"

# Example: New-ExchangeCertificate syntax: SubjectKeyIdentifier
# Expect: warning SubjectKeyIdentifier
New-ExchangeCertificate -SubjectName "CN=ski.contoso.com" -SubjectKeyIdentifier 0123456789abcdef0123456789abcdef -Services None
