# Microsoft's examples for Add-IPAllowListEntry
# (learn.microsoft.com/powershell/module/exchange/add-ipallowlistentry), and its syntax.
# Example: Add-IPAllowListEntry 1
# Expect: ok
Add-IPAllowListEntry -IPAddress 192.168.0.100

# Example: Add-IPAllowListEntry 2 (the date has passed: stored, with a warning)
# Expect: warning has passed
Add-IPAllowListEntry -IPRange 192.168.0.1/24 -ExpirationTime "1/3/2013 23:59"

# Example: syntax: a range with a comment
# Expect: ok
Add-IPAllowListEntry -IPRange 192.168.1.1-192.168.1.254 -Comment "partner relay" -Server MAIL
