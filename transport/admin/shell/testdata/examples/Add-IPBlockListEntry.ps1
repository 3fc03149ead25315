# Microsoft's examples for Add-IPBlockListEntry
# (learn.microsoft.com/powershell/module/exchange/add-ipblocklistentry), and its syntax.
# Example: Add-IPBlockListEntry 1
# Expect: ok
Add-IPBlockListEntry -IPAddress 192.168.0.100

# Example: Add-IPBlockListEntry 2 (the date has passed: stored, with a warning)
# Expect: warning has passed
Add-IPBlockListEntry -IPRange 192.168.0.1/24 -ExpirationTime "1/3/2014 23:59"

# Example: syntax: a range, a comment, a future expiration, -Server
# Expect: ok
Add-IPBlockListEntry -IPRange 198.51.100.1-198.51.100.50 -Comment "spam run, ticket 4711" -ExpirationTime "2099-12-31 23:59" -Server MAIL
