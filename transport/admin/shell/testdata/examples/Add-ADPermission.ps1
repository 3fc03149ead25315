# Add-ADPermission: Microsoft's examples (Exchange Server reference page), then the syntax block's
# parameters and the relay and partner recipes. On a receive connector every extended right of the
# recipes is kept and enforced at the next connection (ms-Exch-SMTP-Accept-Exch50 is stored with a
# warning: there is no XEXCH50 here); -User is NT AUTHORITY\ANONYMOUS LOGON, NT AUTHORITY\Authenticated
# Users, MS Exchange\Externally Secured Servers, MS Exchange\Partner Servers or a mailbox. "Send As" is
# granted on a mailbox.

# Example: setup
# Expect: ok
$pw = ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force
New-Mailbox -Name "Terry Adams" -PrimarySmtpAddress terry@contoso.com -Password $pw
New-Mailbox -Name AaronPainter -PrimarySmtpAddress aaron@contoso.com -Password $pw
New-ReceiveConnector -Name "IP Secured Inbound" -Usage Custom -Bindings 0.0.0.0:2525 -RemoteIPRanges 192.168.5.10

# Example: Add-ADPermission 1
# Expect: ok
Add-ADPermission -Identity "Terry Adams" -User AaronPainter -AccessRights ExtendedRight -ExtendedRights "Send As"

# Example: Add-ADPermission 2
# Expect: ok
Add-AdPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submit,ms-Exch-SMTP-Accept-Any-Recipient,ms-Exch-Bypass-Anti-Spam

# Example: Add-ADPermission relay recipe (Microsoft's "Allow anonymous relay on Exchange servers")
# Expect: ok
Get-ReceiveConnector "IP Secured Inbound" | Add-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights "Ms-Exch-SMTP-Accept-Any-Recipient"

# Example: Add-ADPermission partner recipe: the partner's servers may use any sender and bypass the size limit
# Expect: ok
Get-ReceiveConnector "IP Secured Inbound" | Add-ADPermission -User "MS Exchange\Partner Servers" -ExtendedRights ms-Exch-SMTP-Accept-Any-Sender,ms-Exch-SMTP-Accept-Authoritative-Domain-Sender,ms-Exch-Bypass-Message-Size-Limit
Get-ReceiveConnector "IP Secured Inbound" | Add-ADPermission -User "MS Exchange\Externally Secured Servers" -ExtendedRights ms-Exch-Accept-Headers-Routing

# Example: Add-ADPermission syntax: authenticated users, a mailbox, -Deny
# Expect: ok
Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\Authenticated Users" -ExtendedRights ms-Exch-SMTP-Submit -AccessRights ExtendedRight
Add-ADPermission "IP Secured Inbound" -User aaron@contoso.com -ExtendedRights ms-Exch-SMTP-Accept-Any-Sender
Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-Bypass-Anti-Spam -Deny -Confirm:$false

# Example: Add-ADPermission syntax: ms-Exch-SMTP-Accept-Exch50
# Expect: warning no effect on Linux
Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Accept-Exch50

# Example: Add-ADPermission syntax: -DomainController
# Expect: warning -DomainController ignored
Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submit -DomainController dc01.contoso.com

# Example: Add-ADPermission on a connector that does not exist
# Expect: missing Contoso.com
Add-ADPermission "Contoso.com" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submit
