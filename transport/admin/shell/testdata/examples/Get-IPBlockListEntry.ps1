# Microsoft's examples for Get-IPBlockListEntry
# (learn.microsoft.com/powershell/module/exchange/get-ipblocklistentry), and its syntax.
# Example: setup
# Expect: ok
Add-IPBlockListEntry -IPRange 192.168.0.1-192.168.0.20

# Example: Get-IPBlockListEntry 1
# Expect: ok
Get-IPBlockListEntry

# Example: Get-IPBlockListEntry 2 (transportd has no sender reputation: nothing is machine-generated)
# Expect: ok
Get-IPBlockListEntry | where {$_.IsMachineGenerated}

# Example: syntax: -IPAddress, -Identity, -ResultSize
# Expect: ok
Get-IPBlockListEntry -IPAddress 192.168.0.5
Get-IPBlockListEntry 1
Get-IPBlockListEntry -ResultSize Unlimited
