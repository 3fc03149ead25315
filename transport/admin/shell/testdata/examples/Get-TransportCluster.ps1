# transportd's own cmdlet: no Microsoft examples.

# Example: Get-TransportCluster syntax: a single server
# Expect: warning not a cluster member
Get-TransportCluster
