# Get-ADPermission: Microsoft's examples (Exchange Server reference page), then the syntax block's
# parameters. On a receive connector it lists the rights of the permission groups, AnonymousRelay and
# the explicit entries (Deny True for a deny); on a mailbox its "Send As" grants.

# Example: Get-ADPermission 1
# Expect: missing Ed
Get-ADPermission -Identity Ed

# Example: setup
# Expect: ok
$pw = ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force
New-Mailbox -Name Ed -PrimarySmtpAddress ed@contoso.com -Password $pw
New-Mailbox -Name Chris -PrimarySmtpAddress chris@contoso.com -Password $pw
New-ReceiveConnector -Name "Contoso.com" -Usage Partner -Bindings 0.0.0.0:2526 -RemoteIPRanges 192.168.6.0/24
Add-ADPermission "Contoso.com" -User Chris -ExtendedRights ms-Exch-SMTP-Submit,ms-Exch-SMTP-Accept-Any-Recipient
Add-ADPermission Ed -User Chris -ExtendedRights "Send As"

# Example: Get-ADPermission 1 (Ed exists)
# Expect: ok
Get-ADPermission -Identity Ed

# Example: Get-ADPermission 2
# Expect: ok
Get-ADPermission "Contoso.com" -User Chris

# Example: Get-ADPermission syntax: the anonymous rights of the Default Frontend, as the hardening recipe reads them
# Expect: ok
Get-ReceiveConnector "Default Frontend MAIL" | Get-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" | Where-Object { $_.ExtendedRights -like "*Authoritative-Domain-Sender*" } | Format-Table Identity,User,ExtendedRights,Deny

# Example: Get-ADPermission syntax: -DomainController
# Expect: warning -DomainController ignored
Get-ADPermission "Contoso.com" -DomainController dc01.contoso.com
