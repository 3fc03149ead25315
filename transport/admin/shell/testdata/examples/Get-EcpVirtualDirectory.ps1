# Example: Get-EcpVirtualDirectory 1
# Expect: missing Server01
Get-EcpVirtualDirectory -Server Server01

# Example: Get-EcpVirtualDirectory 2
# Expect: missing Server01\ecp*
Get-EcpVirtualDirectory -Identity "Server01\ecp*" | Format-List

# Example: Get-EcpVirtualDirectory 3
# Expect: ok
Get-EcpVirtualDirectory

# Example: Get-EcpVirtualDirectory this server
# Expect: ok
Get-EcpVirtualDirectory -Identity "MAIL\ecp*" -ADPropertiesOnly | Format-List InternalUrl,AdminEnabled
Get-EcpVirtualDirectory -Server MAIL -ShowMailboxVirtualDirectories
