# Example: Get-Message 1
# Expect: ok
Get-Message -Filter "FromAddress -like '*@contoso.com'" | Format-List

# Example: Get-Message 2
# Expect: ok
Get-Message -Filter "FromAddress -like '*@contoso.com' -and SCL -gt 3"

# Example: Get-Message 3
# Expect: missing Server01.contoso.com
Get-Message -Server Server01.contoso.com -SortOrder: +FromAddress,-Size

# Example: Get-Message syntax Filter, Server, SortOrder, ResultSize, IncludeRecipientInfo
# Expect: ok
Get-Message -Server mail.contoso.com -Filter {Size -gt 1MB -or DateReceived -lt '03/13/2018 09:00:00'} -SortOrder: +FromAddress,-Size -ResultSize Unlimited -IncludeRecipientInfo

# Example: Get-Message syntax Queue
# Expect: missing MAIL\contoso.com
Get-Message -Queue MAIL\contoso.com -IncludeRecipientInfo -ResultSize 100

# Example: Get-Message syntax Identity
# Expect: missing MAIL\contoso.com\1234
Get-Message -Identity MAIL\contoso.com\1234 -IncludeComponentLatencyInfo
