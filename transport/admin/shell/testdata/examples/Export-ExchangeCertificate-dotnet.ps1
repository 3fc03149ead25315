# Export-ExchangeCertificate: Microsoft's examples 2 and 4, which write the file with .NET's
# [System.IO.File]::WriteAllBytes and [System.Text.Encoding]::Unicode.GetBytes. A Windows path is
# written under its file name in the data folder's files/ folder, with a warning saying where; the
# FileData of -BinaryEncoded (Base64 here) is written as the bytes it holds.

# Example: Export-ExchangeCertificate 2
# Expect: missing 5113ae0233a72fccb75b1d0198628675333d010e
# Stdin: administrator
# Stdin: P@ssw0rd1
$bincert = Export-ExchangeCertificate -Thumbprint 5113ae0233a72fccb75b1d0198628675333d010e -BinaryEncoded -Password (Get-Credential).password

[System.IO.File]::WriteAllBytes('C:\Data\HT cert.pfx', $bincert.FileData)

# Example: Export-ExchangeCertificate 4
# Expect: missing Mailbox01
$txtcert = Export-ExchangeCertificate -Thumbprint 72570529B260E556349F3403F5CF5819D19B3B58 -Server Mailbox01

[System.IO.File]::WriteAllBytes('\\FileServer01\Data\Fabrikam.req', [System.Text.Encoding]::Unicode.GetBytes($txtcert))


# Example: setup
# Expect: ok
$c = New-ExchangeCertificate -SubjectName "CN=relay.contoso.com" -DomainName relay.contoso.com -Services None -PrivateKeyExportable $true

# Example: Export-ExchangeCertificate 2 on a certificate that exists
# Expect: warning is a Windows path
$bincert = Export-ExchangeCertificate -Thumbprint $c.Thumbprint -BinaryEncoded -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force)
[System.IO.File]::WriteAllBytes('C:\Data\HT cert.pfx', $bincert.FileData)
$b = [System.IO.File]::ReadAllBytes('C:\Data\HT cert.pfx')
$b.Length

# Example: Export-ExchangeCertificate 4 on a pending request
# Expect: warning is a Windows path
$r = New-ExchangeCertificate -GenerateRequest -SubjectName "C=US, O=Contoso, CN=mail.contoso.com"
$txtcert = Export-ExchangeCertificate -Thumbprint $r.Thumbprint
[System.IO.File]::WriteAllBytes('\\FileServer01\Data\Fabrikam.req', [System.Text.Encoding]::Unicode.GetBytes($txtcert.FileData))
