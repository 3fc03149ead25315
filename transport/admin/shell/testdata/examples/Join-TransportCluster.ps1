# transportd's own cmdlet: no Microsoft examples. The token names a seed at 127.0.0.1:9, where no member runs.

# Example: Join-TransportCluster syntax: the token alone
# Expect: missing 127.0.0.1:9
Join-TransportCluster TDJ1-eyJzIjoiMTI3LjAuMC4xOjkiLCJwIjoiMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImsiOiJub3QtdGhlLXNlY3JldCJ9 -Address 127.0.0.1

# Example: Join-TransportCluster syntax: another seed than the token's
# Expect: missing 127.0.0.1:7
Join-TransportCluster -Seed 127.0.0.1:7 -Token TDJ1-eyJzIjoiMTI3LjAuMC4xOjkiLCJwIjoiMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImsiOiJub3QtdGhlLXNlY3JldCJ9

# Example: Join-TransportCluster syntax: a damaged token
# Expect: missing join token
Join-TransportCluster -Token TDJ1-abc

# Example: Join-TransportCluster syntax: NATS's fsync interval instead of an fsync before every ack
# Expect: missing 127.0.0.1:9
Join-TransportCluster TDJ1-eyJzIjoiMTI3LjAuMC4xOjkiLCJwIjoiMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImsiOiJub3QtdGhlLXNlY3JldCJ9 -Address 127.0.0.1 -SyncAlways $false
