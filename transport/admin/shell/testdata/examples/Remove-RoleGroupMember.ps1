# Example: setup
# Expect: ok
New-Mailbox -Name David -PrimarySmtpAddress david@contoso.com
Add-RoleGroupMember "Recipient Management" -Member David

# Example: Remove-RoleGroupMember 1
# Expect: ok
Remove-RoleGroupMember "Recipient Management" -Member David

# Microsoft's example 2 (Get-User -Filter ... | Get-Mailbox | Remove-RoleGroupMember ... -WhatIf) is left
# out: there is no Get-User (no Active Directory users apart from mailboxes).

# Example: Remove-RoleGroupMember 3
# Expect: missing Training Administrators
Remove-RoleGroupMember "Training Administrators" -Member "Training Assistants" -BypassSecurityGroupManagerCheck
