# The shell language with transport cmdlets: aliases, wildcard properties, multi-line scripts,
# variables, arrays, hashtables on multi-valued properties, -Server, -WhatIf, -Confirm, dates,
# time spans and sizes. Runs top to bottom in one session on the default configuration.

# Example: setup
# Expect: ok
New-AcceptedDomain -Name fabrikam.com -DomainName fabrikam.com
New-Mailbox -Name kim -PrimarySmtpAddress kim@contoso.com -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force)
New-SendConnector -Name "To Partner" -AddressSpaces fabrikam.net -SmartHosts smtp1.fabrikam.net

# Example: Where-Object with a script block, wildcard properties
# Expect: warning MaxMessageSize
Get-ReceiveConnector | Where {$_.PermissionGroups -like "*AnonymousUsers*"} | Format-List *Size*

# Example: ? and -ExpandProperty
# Expect: warning Default Frontend MAIL
Get-ReceiveConnector | ? {$_.Enabled -eq $true -and $_.PermissionGroups -like "*Anonymous*"} | Select-Object -ExpandProperty Name

# Example: Format-List *
# Expect: warning ConnectionTimeout
Get-ReceiveConnector "Client Frontend MAIL" | fl *

# Example: Select-Object with wildcards, sort, ft
# Expect: warning MaxHeaderSize
Get-ReceiveConnector | select Name,*Size* | sort Name -Descending | ft

# Example: % and foreach
# Expect: warning Client Frontend MAIL has
Get-ReceiveConnector | % { "$($_.Name) has $($_.MaxRecipientsPerMessage) recipients at most" }
Get-ReceiveConnector | foreach { $_.Identity }

# Example: multi-line: backtick continuation, pipelines across lines, comments, blank lines
# Expect: warning 00:15:00
<# A block comment
   over several lines #>
Set-ReceiveConnector "Default Frontend MAIL" `
    -ConnectionTimeout 00:15:00 `
    -MaxMessageSize 20MB   # a size

Get-ReceiveConnector "Default Frontend MAIL" |
    Format-List Name,
        ConnectionTimeout,MaxMessageSize

# Example: variables, $true/$false/$null, interpolation
# Expect: warning Name: Client Frontend MAIL
$name = "Client Frontend MAIL"
$rc = Get-ReceiveConnector $name
$on = $true
"Name: $name, enabled: $($rc.Enabled -eq $on), banner: [$($rc.Banner)]"
Set-ReceiveConnector $name -Banner $null

# Example: arrays
# Expect: warning 10.0.0.0/8
$ranges = @("10.0.0.0/8","192.168.0.0/16")
New-ReceiveConnector -Name "Relay" -Usage Custom -Bindings 0.0.0.0:2525 -RemoteIPRanges $ranges
Set-ReceiveConnector "Relay" -RemoteIPRanges "10.0.0.0/8","172.16.0.0/12"
Get-ReceiveConnector "Relay" | Format-List RemoteIPRanges

# Example: hashtables on multi-valued properties
# Expect: warning 192.0.2.25
Set-ReceiveConnector "Relay" -RemoteIPRanges @{Add="192.0.2.25","198.51.100.0/24"; Remove="172.16.0.0/12"}
Set-ReceiveConnector "Relay" -Bindings @{Add="[::]:2525"}
Set-ReceiveConnector "Relay" -PermissionGroups @{Add="AnonymousUsers"}
Set-ReceiveConnector "Relay" -AuthMechanism @{Remove="BasicAuth","BasicAuthRequireTLS"}
Set-Mailbox kim -EmailAddresses @{add="kim.akers@contoso.com"}
Set-SendConnector "To Partner" -AddressSpaces @{Add="fabrikam.org"} -SmartHosts @{Add="smtp2.fabrikam.net"}
Get-ReceiveConnector "Relay" | Format-List RemoteIPRanges,Bindings,PermissionGroups,AuthMechanism

# Example: hashtable removal
# Expect: warning {}
Set-Mailbox kim -EmailAddresses @{Remove="kim.akers@contoso.com"}
Get-Mailbox kim | Format-List EmailAddresses

# Example: -Server with this server's name and FQDN
# Expect: ok
Get-ReceiveConnector -Server MAIL
Get-ExchangeCertificate -Server mail.contoso.com

# Example: -Server naming another server
# Expect: missing Mailbox01
Get-ReceiveConnector -Server Mailbox01

# Example: -WhatIf changes nothing
# Expect: warning What if: Performing the operation "Remove-ReceiveConnector" on target "Relay".
Remove-ReceiveConnector "Relay" -WhatIf
Get-ReceiveConnector "Relay"

# Example: -Confirm
# Expect: ok
Remove-ReceiveConnector "Relay" -Confirm:$false
Remove-SendConnector "To Partner" -Confirm

# Example: dates as Microsoft's examples write them
# Expect: ok
Get-MessageTrackingLog -Start "03/13/2018 09:00:00" -End "03/15/2018 17:00:00" -Sender "john@contoso.com"
Get-MessageTrackingLog -Start '1/5/2018 3:00 PM' -End "2018-01-06T00:00:00Z"

# Example: time spans and sizes
# Expect: warning 25 MB (26,214,400 bytes)
Set-ReceiveConnector "Default Frontend MAIL" -ConnectionTimeout 1.00:00:00 -MaxMessageSize "25 MB (26,214,400 bytes)"
Get-ReceiveConnector "Default Frontend MAIL" | fl ConnectionTimeout,MaxMessageSize
