# Microsoft's examples for Set-IPAllowListConfig
# (learn.microsoft.com/powershell/module/exchange/set-ipallowlistconfig), and its syntax.
# Example: Set-IPAllowListConfig 1
# Expect: ok
Set-IPAllowListConfig -InternalMailEnabled $true

# Example: syntax: Enabled, ExternalMailEnabled, and the settings shown
# Expect: ok
Set-IPAllowListConfig -Enabled $true -ExternalMailEnabled $true
Get-IPAllowListConfig | Format-List
