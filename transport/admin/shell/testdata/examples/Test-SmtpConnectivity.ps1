# Test-SmtpConnectivity: Microsoft's examples (Exchange Server reference page), then the syntax
# block's parameters. It connects to every binding of every enabled receive connector of this server
# and reports the greeting; another server's name is refused with a message naming this one.

# Example: Test-SmtpConnectivity 1
# Expect: missing Mailbox01
Test-SmtpConnectivity Mailbox01

# Example: Test-SmtpConnectivity 2
# Expect: ok
Get-TransportService | Test-SmtpConnectivity

# Example: Test-SmtpConnectivity syntax: this server by name
# Expect: ok
Test-SmtpConnectivity MAIL

# Example: Test-SmtpConnectivity syntax: the smart hosts of a send connector (transportd's -SendConnector)
# Expect: missing Contoso Smart Host
Test-SmtpConnectivity -SendConnector "Contoso Smart Host"
