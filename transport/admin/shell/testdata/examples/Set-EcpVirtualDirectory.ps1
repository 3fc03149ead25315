# Example: Set-EcpVirtualDirectory 1
# Expect: missing Server01\ecp (Default Web site)
Set-EcpVirtualDirectory -Identity "Server01\ecp (Default Web site)" -BasicAuthentication:$false

# Example: Set-EcpVirtualDirectory 2
# Expect: missing Server01\ecp (Default Web site)
Set-EcpVirtualDirectory -Identity "Server01\ecp (Default Web site)" -AdminEnabled $false

# Example: Set-EcpVirtualDirectory 2 on this server
# Expect: ok
Set-EcpVirtualDirectory -Identity "MAIL\ecp (Default Web site)" -AdminEnabled $false
Set-EcpVirtualDirectory -Identity "MAIL\ecp (Default Web site)" -AdminEnabled $true

# Example: Set-EcpVirtualDirectory syntax InternalUrl, SessionTimeoutMinutes
# Expect: ok
Set-EcpVirtualDirectory "MAIL\ecp (Default Web Site)" -InternalUrl https://127.0.0.1:8443/ecp -SessionTimeoutMinutes 30

# Example: Set-EcpVirtualDirectory 1 on this server
# Expect: warning BasicAuthentication
Set-EcpVirtualDirectory -Identity "MAIL\ecp (Default Web site)" -BasicAuthentication:$false

# Example: Set-EcpVirtualDirectory syntax Windows-only parameters
# Expect: warning does nothing here
Set-EcpVirtualDirectory "MAIL\ecp (Default Web Site)" -ExternalUrl https://mail.contoso.com/ecp -FormsAuthentication $true -WindowsAuthentication $false -DigestAuthentication $false -AdfsAuthentication $false -GzipLevel Off -OwaOptionsEnabled $true -ExtendedProtectionTokenChecking None
