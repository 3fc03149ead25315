# Remove-DkimSigningConfig: the signing configuration and its keys.
# Example: setup
# Expect: ok
Set-TransportService -ExternalDNSServers 127.0.0.1
New-DkimSigningConfig -DomainName contoso.com -Enabled $true

# Example: Remove-DkimSigningConfig
# Expect: ok
Remove-DkimSigningConfig -Identity contoso.com

# Example: an unknown domain
# Expect: missing contoso.com
Remove-DkimSigningConfig -Identity contoso.com
