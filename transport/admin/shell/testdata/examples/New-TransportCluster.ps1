# transportd's own cmdlet (Exchange keeps its configuration in Active Directory): no Microsoft examples.

# Example: New-TransportCluster syntax: the first member, NATS on one address
# Expect: warning transportd cluster join TDJ1-
New-TransportCluster -Name contoso -Address 127.0.0.1 -ClientPort 14222 -RoutePort 16222 -MaildirShared $true

# Example: New-TransportCluster syntax: a second time
# Expect: missing already a member of cluster contoso
New-TransportCluster contoso
