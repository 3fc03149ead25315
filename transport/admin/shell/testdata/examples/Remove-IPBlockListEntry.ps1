# Microsoft's examples for Remove-IPBlockListEntry
# (learn.microsoft.com/powershell/module/exchange/remove-ipblocklistentry), and its syntax.
# Example: setup
# Expect: ok
Add-IPBlockListEntry -IPAddress 192.168.0.100
Add-IPBlockListEntry -IPRange 192.168.0.0/24
Add-IPBlockListEntry -IPRange 203.0.113.0/24

# Example: Remove-IPBlockListEntry 1
# Expect: ok
Get-IPBlockListEntry | Where {$_.IPRange -eq '192.168.0.100'} | Remove-IPBlockListEntry

# Example: Remove-IPBlockListEntry 2
# Expect: ok
Get-IPBlockListEntry | Where {$_.IPRange -eq '192.168.0.0/24'} | Remove-IPBlockListEntry

# Example: syntax: by Identity
# Expect: ok
Remove-IPBlockListEntry 3 -Confirm:$false

# Example: syntax: an entry that does not exist
# Expect: missing 42
Remove-IPBlockListEntry -Identity 42
