# Example: syntax
# Expect: ok
Get-PopSettings

# Example: syntax Format-List
# Expect: ok
Get-PopSettings | Format-List ExternalConnectionSettings,InternalConnectionSettings,LoginType,X509CertificateName

# Example: syntax another server
# Expect: missing MBX01
Get-PopSettings -Server MBX01
