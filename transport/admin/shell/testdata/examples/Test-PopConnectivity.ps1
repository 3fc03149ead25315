# Example: Test-PopConnectivity 2
# Expect: missing Contoso12
Test-PopConnectivity -ClientAccessServer Contoso12

# Example: setup
# Expect: ok
Set-PopSettings -ExternalConnectionSettings "127.0.0.1:995:SSL"

# Example: syntax this server, logon only
# Expect: ok
Test-PopConnectivity -ClientAccessServer MAIL -LightMode -TrustAnySSLCertificate -ConnectionType Ssl -PerConnectionTimeout 5
