# OAuth 2.0 to smart hosts (transportd's parameters; Exchange has no OAuth on send connectors).
# Example: setup
# Expect: ok
New-SendConnector -Name "To Exchange Online" -Internet -AddressSpaces * -SmartHosts smtp.office365.com:587 -SmartHostAuthMechanism OAuth -RequireTLS $true -OAuthTenantId contoso.onmicrosoft.com -OAuthClientId 6731de76-14a6-49ae-97bc-6eba6914391e -OAuthClientSecret "Wq8Q~example.secret" -OAuthMailbox relay@contoso.com

# Example: Set-SendConnector OAuth 1
# Expect: ok
Set-SendConnector "To Exchange Online" -OAuthScope https://outlook.office365.com/.default -OAuthTokenEndpoint https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token

# Example: Set-SendConnector OAuth 2
# Expect: ok
Get-SendConnector "To Exchange Online" | Format-List Name,SmartHostAuthMechanism,OAuthTenantId,OAuthClientId,OAuthClientSecret,OAuthMailbox

# Example: Set-SendConnector OAuth 3
# Expect: ok
Set-SendConnector "To Exchange Online" -OAuthClientSecret $null -OAuthCertificateThumbprint 434AC224C8459924B26521298CE8834C514856AB

# Example: Set-SendConnector OAuth 4
# Expect: ok
Set-SendConnector "To Exchange Online" -SmartHosts smtp.office365.com:465

# Example: Set-SendConnector OAuth 5
# Expect: missing No Such Connector
Set-SendConnector "No Such Connector" -OAuthMailbox relay@contoso.com

# Example: New-SendConnector OAuth 1
# Expect: ok
New-SendConnector -Name "To Gmail" -AddressSpaces gmail.com -SmartHosts smtp.gmail.com:465 -SmartHostAuthMechanism OAuth -RequireTLS $true -OAuthTokenEndpoint https://oauth2.googleapis.com/token -OAuthScope https://mail.google.com/ -OAuthClientId 1234567890-app.apps.googleusercontent.com -OAuthClientSecret "GOCSPX-example" -OAuthMailbox relay@contoso.com
