# Example: Set-PopSettings 1
# Expect: missing MBX01
Set-PopSettings -Server "MBX01" -UnencryptedOrTLSBindings 10.0.0.0:110

# Example: Set-PopSettings 2
# Expect: warning saved but not applied
Set-PopSettings -ProtocolLogEnabled $true -LogFileLocation "C:\Pop3Logging"

# Example: Set-PopSettings 3
# Expect: warning saved but not applied
Set-PopSettings -LogPerFileSizeQuota 2MB

# Example: Set-PopSettings 4
# Expect: warning saved but not applied
Set-PopSettings -LogPerFileSizeQuota 0 -LogFileRollOverSettings Hourly

# Example: Set-PopSettings 5
# Expect: ok
Set-PopSettings -X509CertificateName mail.contoso.com

# Example: syntax ExternalConnectionSettings
# Expect: ok
Set-PopSettings -ExternalConnectionSettings "mail.contoso.com:995:SSL","mail.contoso.com:110:TLS"

# Example: syntax InternalConnectionSettings and LoginType
# Expect: ok
Set-PopSettings -InternalConnectionSettings "mail.contoso.com:995:SSL" -LoginType SecureLogin

# Example: syntax this server
# Expect: ok
Set-PopSettings -Server MAIL -LoginType PlainTextLogin
