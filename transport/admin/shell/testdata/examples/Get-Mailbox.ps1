# Example: syntax
# Expect: ok
Get-Mailbox -ResultSize Unlimited

# Example: syntax Format-List
# Expect: ok
Get-Mailbox -ResultSize Unlimited | Format-List Name,PrimarySmtpAddress,EmailAddresses,ForwardingSmtpAddress,DeliverToMailboxAndForward

# Example: missing mailbox
# Expect: missing Nobody
Get-Mailbox -Identity Nobody
