# Example: syntax
# Expect: ok
Get-ImapSettings

# Example: syntax Format-List
# Expect: ok
Get-ImapSettings | Format-List ExternalConnectionSettings,InternalConnectionSettings,LoginType,X509CertificateName

# Example: syntax another server
# Expect: missing MBX01
Get-ImapSettings -Server MBX01
