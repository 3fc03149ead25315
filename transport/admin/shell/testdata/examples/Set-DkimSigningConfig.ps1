# Microsoft's examples for Set-DkimSigningConfig
# (learn.microsoft.com/powershell/module/exchange/set-dkimsigningconfig), and its syntax.
# DNS lookups go to a loopback server (nothing answers there: records show as not published).
# Example: setup
# Expect: ok
Set-TransportService -ExternalDNSServers 127.0.0.1
New-DkimSigningConfig -DomainName contoso.com -Enabled $true

# Example: Set-DkimSigningConfig 1
# Expect: ok
Set-DkimSigningConfig -Identity contoso.com -Enabled $false

# Example: syntax: enabling again warns while the record is not in DNS
# Expect: warning is not in DNS
Set-DkimSigningConfig -Identity contoso.com -Enabled $true -AdminDisplayName "Contoso signing"

# Example: syntax: PublishTxtRecords shows the records
# Expect: ok
Set-DkimSigningConfig -Identity contoso.com -PublishTxtRecords -BodyCanonicalization Relaxed -HeaderCanonicalization Relaxed

# Example: syntax: pipeline
# Expect: ok
Get-DkimSigningConfig contoso.com | Set-DkimSigningConfig -Enabled $true

# Example: an unknown domain
# Expect: missing fabrikam.com
Set-DkimSigningConfig -Identity fabrikam.com -Enabled $false
