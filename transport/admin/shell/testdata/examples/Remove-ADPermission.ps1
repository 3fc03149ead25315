# Remove-ADPermission: Microsoft's examples (Exchange Server reference page), then the syntax block's
# parameters. A right that comes with a permission group (the Default Frontend's anonymous
# ms-Exch-SMTP-Accept-Authoritative-Domain-Sender) is taken away with a deny entry, with a warning
# saying so; Remove-ADPermission -Deny gives it back.

# Example: Remove-ADPermission 1
# Expect: missing Administrator
Remove-ADPermission -Identity Administrator -User Kim -ExtendedRights "Send As"

# Example: setup
# Expect: ok
$pw = ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force
New-Mailbox -Name Administrator -PrimarySmtpAddress administrator@contoso.com -Password $pw
New-Mailbox -Name Kim -PrimarySmtpAddress kim@contoso.com -Password $pw
Add-ADPermission -Identity Administrator -User Kim -ExtendedRights "Send As"
New-ReceiveConnector -Name "IP Secured Inbound" -Usage Custom -Bindings 0.0.0.0:2527 -RemoteIPRanges 192.168.7.10
Add-AdPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submit,ms-Exch-SMTP-Accept-Any-Recipient,ms-Exch-Bypass-Anti-Spam

# Example: Remove-ADPermission 1 (Administrator and Kim exist)
# Expect: ok
Remove-ADPermission -Identity Administrator -User Kim -ExtendedRights "Send As"

# Example: Remove-ADPermission 2
# Expect: ok
Remove-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submit,ms-Exch-SMTP-Accept-Any-Recipient,ms-Exch-Bypass-Anti-Spam

# Example: Remove-ADPermission syntax: a right of a permission group (the Default Frontend hardening)
# Expect: warning it is now denied
Get-ReceiveConnector "Default Frontend MAIL" | Remove-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Accept-Authoritative-Domain-Sender -Confirm:$false

# Example: Remove-ADPermission syntax: -Deny
# Expect: ok
Remove-ADPermission "Default Frontend MAIL" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Accept-Authoritative-Domain-Sender -Deny -Confirm:$false
