# Example: Test-ImapConnectivity 2
# Expect: missing Contoso12
Test-ImapConnectivity -ClientAccessServer Contoso12

# Example: setup
# Expect: ok
Set-ImapSettings -ExternalConnectionSettings "127.0.0.1:993:SSL"

# Example: syntax this server, logon only
# Expect: ok
Test-ImapConnectivity -ClientAccessServer MAIL -LightMode -TrustAnySSLCertificate -ConnectionType Ssl -PerConnectionTimeout 5
