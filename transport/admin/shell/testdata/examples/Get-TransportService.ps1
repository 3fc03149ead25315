# Example: Get-TransportService 1
# Expect: ok
Get-TransportService

# Example: Get-TransportService 2
# Expect: missing Mailbox01
Get-TransportService Mailbox01 | Format-List

# Example: Get-TransportService syntax: this server by name
# Expect: ok
Get-TransportService MAIL | Format-List *Log*Path,MessageExpirationTimeout,TransientFailureRetryCount
