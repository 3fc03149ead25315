# Example: Get-Queue 1
# Expect: ok
Get-Queue | Format-List

# Example: Get-Queue 2
# Expect: ok
Get-Queue -Filter {MessageCount -gt 100}

# Example: Get-Queue 3
# Expect: missing Server1\contoso.com
Get-Queue Server1\contoso.com | Format-List

# Example: Get-Queue 4
# Expect: ok
Get-Queue -Exclude Internal

# Example: Get-Queue syntax Filter, Server, Include, SortOrder, ResultSize
# Expect: ok
Get-Queue -Server MAIL -Filter "NextHopDomain -eq 'contoso.com' -and Status -eq 'Retry'" -Include External -SortOrder: -MessageCount,+Identity -ResultSize Unlimited

# Example: Get-Queue syntax paging parameters
# Expect: warning returns every result in one page
Get-Queue -BookmarkIndex 1 -IncludeBookmark $true -ReturnPageInfo $false -SearchForward $true -ResultSize 10
