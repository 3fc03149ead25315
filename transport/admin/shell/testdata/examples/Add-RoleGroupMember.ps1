# Example: setup
# Expect: ok
New-Mailbox -Name David -PrimarySmtpAddress david@contoso.com

# Example: Add-RoleGroupMember 1
# Expect: ok
Add-RoleGroupMember "Recipient Management" -Member David

# Microsoft's example 2 (Get-User -Filter ... | Get-Mailbox | Add-RoleGroupMember ... -WhatIf) is left
# out: there is no Get-User (no Active Directory users apart from mailboxes).

# Example: Add-RoleGroupMember 3
# Expect: missing Training Administrators
Add-RoleGroupMember "Training Administrators" -Member "Training Assistants" -BypassSecurityGroupManagerCheck

# Example: Add-RoleGroupMember a member who is not a mailbox
# Expect: missing Training Assistants
Add-RoleGroupMember "Organization Management" -Member "Training Assistants"
