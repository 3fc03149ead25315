# Example: Get-RoleGroupMember 1
# Expect: missing Recipient Administrators
Get-RoleGroupMember "Recipient Administrators"

# Example: Get-RoleGroupMember 2
# Expect: missing Organization Administrators
Get-RoleGroupMember "Organization Administrators" -ReadFromDomainController

# Example: Get-RoleGroupMember of a built-in group
# Expect: ok
New-Mailbox -Name David -PrimarySmtpAddress david@contoso.com
Add-RoleGroupMember "View-Only Organization Management" -Member David
Get-RoleGroupMember "View-Only Organization Management" -ResultSize Unlimited
