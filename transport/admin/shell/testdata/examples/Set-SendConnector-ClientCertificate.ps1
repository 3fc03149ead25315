# Set-SendConnector -TlsCertificateName: the certificate a send connector presents as its TLS client
# certificate, as Microsoft 365's certificate-based inbound connectors require, with -TlsAuthLevel
# DomainValidation and -TlsDomain checking the smart host. The certificate must be in the store with
# its private key.

# Example: setup
# Expect: ok
$cert = New-ExchangeCertificate -SubjectName "C=US, O=Contoso, CN=mail.contoso.com" -DomainName mail.contoso.com -Services None -FriendlyName "Contoso to Microsoft 365"
New-SendConnector -Name "To Microsoft 365" -AddressSpaces * -SmartHosts contoso-com.mail.protection.outlook.com -RequireTLS $true

# Example: Set-SendConnector syntax: certificate by name, domain validation
# Expect: ok
Set-SendConnector "To Microsoft 365" -TlsCertificateName $cert.TlsCertificateName -TlsAuthLevel DomainValidation -TlsDomain mail.protection.outlook.com

# Example: Set-SendConnector syntax: certificate by thumbprint
# Expect: ok
Set-SendConnector "To Microsoft 365" -TlsCertificateName $cert.Thumbprint

# Example: Set-SendConnector syntax: a certificate not in the store
# Expect: missing 0000000000000000000000000000000000000000
Set-SendConnector "To Microsoft 365" -TlsCertificateName 0000000000000000000000000000000000000000
