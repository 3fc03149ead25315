# Microsoft's examples for Get-IPAllowListEntry
# (learn.microsoft.com/powershell/module/exchange/get-ipallowlistentry), and its syntax.
# Example: setup
# Expect: ok
Add-IPAllowListEntry -IPRange 192.168.0.1-192.168.0.20

# Example: Get-IPAllowListEntry 1
# Expect: ok
Get-IPAllowListEntry

# Example: Get-IPAllowListEntry 2
# Expect: ok
Get-IPAllowListEntry -IPAddress 192.168.0.1

# Example: syntax: -Identity, -ResultSize
# Expect: ok
Get-IPAllowListEntry -Identity 1 -ResultSize 1000
