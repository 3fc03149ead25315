# ConvertTo-SecureString: Microsoft's examples (PowerShell 5.1 reference page) that have a meaning
# here. Not here: examples 1 and 2, which round-trip through ConvertFrom-SecureString (Windows DPAPI
# encryption, and -Key); -Key and -SecureKey are refused with that reason.

# Example: ConvertTo-SecureString 3
# Expect: ok
$Secure_String_Pwd = ConvertTo-SecureString "P@ssW0rD!" -AsPlainText -Force

# Example: ConvertTo-SecureString syntax
# Expect: warning System.Security.SecureString
$s = ConvertTo-SecureString -String "P@ssW0rD!" -AsPlainText -Force
$s

# Example: ConvertTo-SecureString New-Mailbox -Password
# Expect: ok
New-Mailbox -Name chris -PrimarySmtpAddress chris@contoso.com -Password (ConvertTo-SecureString -String 'P@ssw0rd1' -AsPlainText -Force)
