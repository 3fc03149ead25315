# Example: Set-ImapSettings 1
# Expect: missing MBX01
Set-ImapSettings -Server "MBX01" -UnencryptedOrTLSBindings 10.0.0.0:143

# Example: Set-ImapSettings 2
# Expect: warning saved but not applied
Set-ImapSettings -ProtocolLogEnabled $true -LogFileLocation "C:\Imap4Logging"

# Example: Set-ImapSettings 3
# Expect: warning saved but not applied
Set-ImapSettings -LogPerFileSizeQuota 2MB

# Example: Set-ImapSettings 4
# Expect: warning saved but not applied
Set-ImapSettings -LogPerFileSizeQuota 0 -LogFileRollOverSettings Hourly

# Example: Set-ImapSettings 5
# Expect: ok
Set-ImapSettings -X509CertificateName mail.contoso.com

# Example: syntax ExternalConnectionSettings
# Expect: ok
Set-ImapSettings -ExternalConnectionSettings "mail.contoso.com:993:SSL","mail.contoso.com:143:TLS"

# Example: syntax InternalConnectionSettings and LoginType
# Expect: ok
Set-ImapSettings -InternalConnectionSettings "mail.contoso.com:993:SSL" -LoginType SecureLogin

# Example: syntax this server
# Expect: ok
Set-ImapSettings -Server MAIL -LoginType PlainTextLogin
