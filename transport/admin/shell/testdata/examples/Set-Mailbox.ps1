# Example: setup
# Expect: ok
New-Mailbox -Name "Kweku Fort" -Alias kweku -PrimarySmtpAddress kweku@contoso.com
New-Mailbox -Name "Tony Smith" -Alias tony -PrimarySmtpAddress tony@contoso.com

# Example: syntax EmailAddresses
# Expect: ok
Set-Mailbox -Identity "Kweku Fort" -EmailAddresses SMTP:kweku@contoso.com,kfort@contoso.com

# Example: syntax forwarding to another address
# Expect: ok
Set-Mailbox -Identity "Kweku Fort" -ForwardingSmtpAddress kweku@fabrikam.com -DeliverToMailboxAndForward $true

# Example: syntax forwarding to another mailbox
# Expect: ok
Set-Mailbox -Identity "Tony Smith" -ForwardingAddress "Kweku Fort" -DeliverToMailboxAndForward $false

# Example: syntax no forwarding
# Expect: ok
Set-Mailbox -Identity "Tony Smith" -ForwardingAddress $null
