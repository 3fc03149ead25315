# Example: Set-TransportService 1
# Expect: missing Mailbox01
Set-TransportService Mailbox01 -DelayNotificationTimeout 13:00:00

# Example: Set-TransportService 2
# Expect: missing Mailbox01
Set-TransportService Mailbox01 -TransientFailureRetryCount 3 -TransientFailureRetryInterval 00:00:30

# Example: Set-TransportService 3
# Expect: missing Mailbox01
Set-TransportService Mailbox01 -ReceiveProtocolLogPath "C:\SMTP Protocol Logs\Receive.log"

# Example: Set-TransportService 1 on this server
# Expect: ok
Set-TransportService MAIL -DelayNotificationTimeout 13:00:00

# Example: Set-TransportService 2 on this server
# Expect: ok
Set-TransportService MAIL -TransientFailureRetryCount 3 -TransientFailureRetryInterval 00:00:30

# Example: Set-TransportService 3 on this server
# Expect: warning Windows path
Set-TransportService MAIL -ReceiveProtocolLogPath "C:\SMTP Protocol Logs\Receive.log"

# Example: Set-TransportService syntax: retry and expiry
# Expect: ok
Set-TransportService mail.contoso.com -MessageExpirationTimeout 3.00:00:00 -MessageRetryInterval 00:10:00 -OutboundConnectionFailureRetryInterval 00:05:00 -MaxOutboundConnections 500 -MaxPerDomainOutboundConnections 10 -MaxConcurrentMailboxDeliveries 10

# Example: Set-TransportService syntax: logs
# Expect: ok
Set-TransportService MAIL -SendProtocolLogMaxFileSize 20MB -SendProtocolLogMaxDirectorySize 500MB -SendProtocolLogMaxAge 15.00:00:00 -ReceiveProtocolLogMaxAge 10.00:00:00 -MessageTrackingLogMaxAge 60.00:00:00 -MessageTrackingLogSubjectLoggingEnabled $false -MessageTrackingLogEnabled $true

# Example: Set-TransportService syntax: DNS servers
# Expect: ok
Set-TransportService MAIL -ExternalDNSServers 192.0.2.53,198.51.100.53

# Example: Set-TransportService syntax: logs transportd does not write
# Expect: warning does nothing here
Set-TransportService MAIL -ConnectivityLogEnabled $true -ReplayDirectoryPath "C:\Replay" -PipelineTracingEnabled $false
