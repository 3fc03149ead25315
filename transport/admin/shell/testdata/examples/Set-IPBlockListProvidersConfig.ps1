# Microsoft's examples for Set-IPBlockListProvidersConfig
# (learn.microsoft.com/powershell/module/exchange/set-ipblocklistprovidersconfig), and its syntax.
# Example: Set-IPBlockListProvidersConfig 1
# Expect: ok
Set-IPBlockListProvidersConfig -InternalMailEnabled $true -BypassedRecipients kweku@contoso.com

# Example: Set-IPBlockListProvidersConfig 2
# Expect: ok
Set-IPBlockListProvidersConfig -BypassedRecipients @{Add="chris@contoso.com","michelle@contoso.com"; Remove="laura@contoso.com","julia@contoso.com"}

# Example: syntax: Enabled, ExternalMailEnabled, and the settings shown
# Expect: ok
Set-IPBlockListProvidersConfig -Enabled $true -ExternalMailEnabled $true
Get-IPBlockListProvidersConfig | Format-List
