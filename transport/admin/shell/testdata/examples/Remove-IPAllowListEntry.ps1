# Microsoft's examples for Remove-IPAllowListEntry
# (learn.microsoft.com/powershell/module/exchange/remove-ipallowlistentry), and its syntax.
# Example: setup
# Expect: ok
Add-IPAllowListEntry -IPAddress 192.168.0.100
Add-IPAllowListEntry -IPRange 192.168.0.0/24

# Example: Remove-IPAllowListEntry 1
# Expect: ok
Get-IPAllowListEntry | Where {$_.IPRange -eq '192.168.0.100'} | Remove-IPAllowListEntry

# Example: Remove-IPAllowListEntry 2
# Expect: ok
Get-IPAllowListEntry | Where {$_.IPRange -eq '192.168.0.0/24'} | Remove-IPAllowListEntry

# Example: syntax: an entry that does not exist
# Expect: missing 7
Remove-IPAllowListEntry 7
