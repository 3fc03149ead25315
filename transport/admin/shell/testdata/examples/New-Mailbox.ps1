# Example: setup
# Expect: ok
$password = ConvertTo-SecureString -String "Pa55word!" -AsPlainText -Force

# Example: New-Mailbox 1
# Expect: warning -Database (mail is kept
New-Mailbox -UserPrincipalName chris@contoso.com -Alias chris -Database "Mailbox Database 1" -Name ChrisAshton -OrganizationalUnit Users -Password $password -FirstName Chris -LastName Ashton -DisplayName "Chris Ashton" -ResetPasswordOnNextLogon $true

# Example: syntax PrimarySmtpAddress
# Expect: ok
New-Mailbox -Name "Kweku Fort" -PrimarySmtpAddress kweku@contoso.com -Password $password -FirstName Kweku -LastName Fort
