# Example: Get-TransportConfig 1
# Expect: ok
Get-TransportConfig | Format-List

# Example: Get-TransportConfig syntax: the size limits
# Expect: ok
Get-TransportConfig | Format-List MaxSendSize,MaxReceiveSize,ExternalPostmasterAddress,ExternalDelayDsnEnabled
