# Export-ExchangeCertificate: Microsoft's examples (Exchange Server reference page), then the syntax
# block's parameters. A certificate is exported only when its PrivateKeyExportable is True, as in
# Exchange; a pending request exports as its PKCS#10 text. -FileName with a Windows path writes under
# the file's name in the data folder's files/ folder, with a warning saying where.
# Examples 2 and 4 (.NET file calls) are in Export-ExchangeCertificate-dotnet.ps1.

# Example: Export-ExchangeCertificate 1
# Expect: missing 5113ae0233a72fccb75b1d0198628675333d010e
# Stdin: administrator
# Stdin: P@ssw0rd1
Export-ExchangeCertificate -Thumbprint 5113ae0233a72fccb75b1d0198628675333d010e -FileName "C:\Data\HT cert.pfx" -BinaryEncoded -Password (Get-Credential).password

# Example: Export-ExchangeCertificate 3
# Expect: missing Mailbox01
Export-ExchangeCertificate -Thumbprint 72570529B260E556349F3403F5CF5819D19B3B58 -Server Mailbox01 -FileName "\\FileServer01\Data\Fabrikam.req"

# Example: setup
# Expect: ok
$c = New-ExchangeCertificate -SubjectName "CN=relay.contoso.com" -DomainName relay.contoso.com -Services None -PrivateKeyExportable $true
$r = New-ExchangeCertificate -GenerateRequest -SubjectName "C=US, O=Contoso, CN=mail.contoso.com"

# Example: Export-ExchangeCertificate syntax: a certificate as PKCS#12
# Expect: warning is a Windows path
Export-ExchangeCertificate -Thumbprint $c.Thumbprint -FileName "C:\Data\relay.pfx" -BinaryEncoded -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force) -Confirm:$false

# Example: Export-ExchangeCertificate syntax: a pending request
# Expect: ok
$txt = Export-ExchangeCertificate $r.Thumbprint
$txt.FileData
