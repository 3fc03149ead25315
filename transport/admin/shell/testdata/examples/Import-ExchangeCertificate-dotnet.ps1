# Import-ExchangeCertificate: Microsoft's example 2, which reads the file with
# [Byte[]](Get-Content -Encoding Byte -ReadCount 0). A Windows path is read from the data folder's
# files/ folder; the byte array reaches -FileData unchanged.

# Example: Import-ExchangeCertificate 2
# Expect: missing C:\Certificates\Fabrikam IssuedCert.p7b
Import-ExchangeCertificate -FileData ([Byte[]](Get-Content -Path "C:\Certificates\Fabrikam IssuedCert.p7b" -Encoding byte -ReadCount 0))


# Example: setup: a PKCS#12 file at a Windows path
# Expect: warning is a Windows path
$c = New-ExchangeCertificate -SubjectName "CN=partner.contoso.com" -DomainName partner.contoso.com -Services None -PrivateKeyExportable $true
$pw = ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force
$bin = Export-ExchangeCertificate -Thumbprint $c.Thumbprint -BinaryEncoded -Password $pw
Remove-ExchangeCertificate -Thumbprint $c.Thumbprint -Confirm:$false
[System.IO.File]::WriteAllBytes('C:\Certificates\partner.pfx', $bin.FileData)

# Example: Import-ExchangeCertificate 2 with that file
# Expect: ok
Import-ExchangeCertificate -FileData ([Byte[]](Get-Content -Path "C:\Certificates\partner.pfx" -Encoding byte -ReadCount 0)) -Password $pw
Get-ExchangeCertificate -DomainName partner.contoso.com

# Example: the same with [System.IO.File]::ReadAllBytes and (Get-Date).AddHours(-1)
# Expect: ok
Remove-ExchangeCertificate -Thumbprint $c.Thumbprint -Confirm:$false
Import-ExchangeCertificate -FileData ([System.IO.File]::ReadAllBytes('C:\Certificates\partner.pfx')) -Password $pw
$since = (Get-Date).AddHours(-1)
Get-MessageTrackingLog -Start $since -ResultSize 10
