# transportd's own cmdlet: no Microsoft examples.

# Example: setup
# Expect: ok
New-TransportCluster -Name contoso -Address 127.0.0.1

# Example: Get-TransportClusterJoinToken syntax
# Expect: warning TDJ1-
Get-TransportClusterJoinToken
