# Import-ExchangeCertificate: Microsoft's examples (Exchange Server reference page), then the syntax
# block's parameters. Data without a private key is a CA's answer (PEM, DER .cer or PKCS#7 .p7b) and
# completes the pending request made here with New-ExchangeCertificate -GenerateRequest.
# Example 2 ([Byte[]](Get-Content -Encoding Byte ...)) is in Import-ExchangeCertificate-dotnet.ps1;
# -FileName (or -Path) reads the file directly.

# Example: Import-ExchangeCertificate 1
# Expect: missing Mailbox01
Import-ExchangeCertificate -Server Mailbox01 -FileName" \\FileServer01\Data\Exported Fabrikam Cert.pfx" -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force)

# Example: setup
# Expect: warning is a Windows path
$c = New-ExchangeCertificate -SubjectName "CN=relay.contoso.com" -DomainName relay.contoso.com -Services None -PrivateKeyExportable $true
$pfx = Export-ExchangeCertificate -Thumbprint $c.Thumbprint -BinaryEncoded -FileName "C:\Data\relay.pfx" -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force)
Remove-ExchangeCertificate -Thumbprint $c.Thumbprint -Confirm:$false

# Example: Import-ExchangeCertificate syntax: a PFX with its password
# Expect: ok
Import-ExchangeCertificate -FileName $pfx.FileName -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force) -PrivateKeyExportable $true -FriendlyName "Contoso relay" -Server MAIL -Confirm:$false

# Example: Import-ExchangeCertificate syntax: missing file
# Expect: missing /nonexistent/Fabrikam IssuedCert.p7b
Import-ExchangeCertificate -Path "/nonexistent/Fabrikam IssuedCert.p7b"
