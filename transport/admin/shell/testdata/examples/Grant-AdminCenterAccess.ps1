# Example: setup
# Expect: ok
New-Mailbox -Name alice -PrimarySmtpAddress alice@contoso.com

# Example: Grant-AdminCenterAccess (transportd admin grant)
# Expect: ok
Grant-AdminCenterAccess alice
Get-RoleGroupMember "Organization Management"

# Example: Grant-AdminCenterAccess to a name that is not a mailbox
# Expect: missing nobody
Grant-AdminCenterAccess nobody
