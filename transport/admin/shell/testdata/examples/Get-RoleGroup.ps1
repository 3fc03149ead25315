# Example: Get-RoleGroup 1
# Expect: ok
Get-RoleGroup

# Example: Get-RoleGroup 2
# Expect: missing Recipient Administrators
Get-RoleGroup "Recipient Administrators" | Format-List

# Example: Get-RoleGroup 3
# Expect: ok
Get-RoleGroup -ReadFromDomainController

# Example: Get-RoleGroup 4
# Expect: ok
Get-RoleGroup -Filter "RoleGroupType -eq 'Linked'" | Format-Table Name, LinkedGroup

# Example: Get-RoleGroup built-in groups
# Expect: ok
Get-RoleGroup "Organization Management" | Format-List Name,Members,Description
