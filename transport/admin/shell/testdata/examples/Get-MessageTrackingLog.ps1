# Example: Get-MessageTrackingLog 1
# Expect: ok
Get-MessageTrackingLog -Server Mailbox01 -Start "03/13/2018 09:00:00" -End "03/15/2018 17:00:00" -Sender "john@contoso.com"

# Example: Get-MessageTrackingLog syntax Server, EventId, InternalMessageId, MessageId, MessageSubject, Recipients, ResultSize
# Expect: ok
Get-MessageTrackingLog -Server MAIL -EventId RECEIVE -InternalMessageId 1234 -MessageId "<d9683b4c-127b-413a-ae2e-fa7dfb32c69d@contoso.com>" -MessageSubject sea -Recipients chris@contoso.com,kim@contoso.com -ResultSize Unlimited
