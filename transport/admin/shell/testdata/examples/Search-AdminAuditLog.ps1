# Example: Search-AdminAuditLog 1
# Expect: ok
Search-AdminAuditLog -Cmdlets New-RoleGroup,New-ManagementRoleAssignment

# Example: Search-AdminAuditLog 2
# Expect: warning Parameters
Search-AdminAuditLog -Cmdlets Set-Mailbox -Parameters UseDatabaseQuotaDefaults,ProhibitSendReceiveQuota,ProhibitSendQuota -StartDate 01/24/2018 -EndDate 02/12/2018 -IsSuccess $true

# Example: Search-AdminAuditLog 3
# Expect: ok
$LogEntries = Search-AdminAuditLog -Cmdlets Write-AdminAuditLog; $LogEntries | ForEach { $_.CmdletParameters }

# Example: Search-AdminAuditLog 4
# Expect: warning ExternalAccess
Search-AdminAuditLog -ExternalAccess $true -StartDate 09/17/2018 -EndDate 10/02/2018

# Example: Search-AdminAuditLog syntax UserIds, ObjectIds, ResultSize
# Expect: ok
Search-AdminAuditLog -UserIds alice,bob -ObjectIds "Default Frontend*" -ResultSize 50
