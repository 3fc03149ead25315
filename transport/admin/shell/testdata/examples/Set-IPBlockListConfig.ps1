# Microsoft's examples for Set-IPBlockListConfig
# (learn.microsoft.com/powershell/module/exchange/set-ipblocklistconfig), and its syntax.
# Example: Set-IPBlockListConfig 1
# Expect: ok
Set-IPBlockListConfig -InternalMailEnabled $true

# Example: Exchange's "Configure IP Block list" page
# Expect: ok
Get-IPBlockListConfig | Format-List *Enabled,*Response
Set-IPBlockListConfig -Enabled $false
Set-IPBlockListConfig -Enabled $true

# Example: syntax: the refusal text, ExternalMailEnabled
# Expect: ok
Set-IPBlockListConfig -StaticEntryRejectionResponse "Your server is blocked by the contoso.com administrators" -ExternalMailEnabled $true

# Example: syntax: the sender reputation text is stored, with a warning that nothing uses it
# Expect: warning sender reputation
Set-IPBlockListConfig -MachineEntryRejectionResponse "Blocked by sender reputation"
