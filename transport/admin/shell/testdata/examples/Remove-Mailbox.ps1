# Remove-Mailbox: Microsoft's examples (Exchange Server reference page), then the syntax block's
# parameters. Not here: example 2 (-Permanent $true: not declared yet), example 3 (-Database -StoreMailboxIdentity: disconnected mailboxes in a
# mailbox database) and example 4 (-SoftDeleted, -PermanentlyDelete: Exchange Online); a removed
# mailbox's Maildir is not kept for a retention period.

# Example: Remove-Mailbox 1
# Expect: missing John Rodman
Remove-Mailbox -Identity "John Rodman"

# Example: setup
# Expect: ok
$pw = ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force
New-Mailbox -Name "John Rodman" -PrimarySmtpAddress john@contoso.com -Password $pw

# Example: Remove-Mailbox 1 (John Rodman exists)
# Expect: ok
Remove-Mailbox -Identity "John Rodman" -Confirm:$false
