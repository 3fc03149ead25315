# transportd's own cmdlet: no Microsoft examples.

# Example: setup
# Expect: ok
New-TransportCluster -Name contoso -Address 127.0.0.1

# Example: Get-TransportClusterJoinToken syntax
# Expect: warning TDJ1-
Get-TransportClusterJoinToken

# Example: Get-TransportClusterJoinToken syntax: a token valid for one hour (the default is 24 hours)
# Expect: warning TDJ1-
Get-TransportClusterJoinToken -ValidFor 01:00:00
Get-TransportClusterJoinToken -ValidFor 1h
