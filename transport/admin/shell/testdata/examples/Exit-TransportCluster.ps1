# transportd's own cmdlet: no Microsoft examples.

# Example: setup
# Expect: ok
New-TransportCluster -Name contoso -Address 127.0.0.1

# Example: Exit-TransportCluster syntax
# Expect: warning left cluster contoso
Exit-TransportCluster

# Example: Exit-TransportCluster syntax: keeps nothing of the cluster
# Expect: missing not a cluster member
Exit-TransportCluster -Purge
