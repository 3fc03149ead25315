# Example: Set-TransportConfig 1
# Expect: warning does nothing here
Set-TransportConfig -GenerateCopyOfDSNFor 5.7.1,5.7.2,5.7.3

# Example: Set-TransportConfig 2
# Expect: warning does nothing here
Set-TransportConfig -JournalingReportNdrTo journalingndr@contoso.com

# Example: Set-TransportConfig syntax: organization limits and DSNs
# Expect: ok
Set-TransportConfig -MaxSendSize 25MB -MaxReceiveSize 35MB -ExternalPostmasterAddress postmaster@contoso.com -ExternalDelayDsnEnabled $false -InternalDelayDsnEnabled $true

# Example: Set-TransportConfig syntax: shadow redundancy
# Expect: warning does nothing here
Set-TransportConfig -ShadowRedundancyEnabled $true -SafetyNetHoldTime 2.00:00:00 -MaxRecipientEnvelopeLimit 500

# Example: Set-TransportConfig syntax: Unlimited
# Expect: ok
Set-TransportConfig -MaxSendSize Unlimited -MaxReceiveSize Unlimited
