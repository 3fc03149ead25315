# Get-Credential: Microsoft's examples (PowerShell 5.1 reference page) that have a meaning here.
# Not here: examples 2, 3 and 9 (Get-WmiObject, Invoke-Command: Windows remoting), 5 ($host.ui
# method), 6 (the Windows registry). On a terminal Get-Credential prompts "User:" and
# "Password for user X:" without echo; otherwise it reads the lines of standard input, which a
# "# Stdin:" line after "# Expect:" gives, one line each.

# Example: Get-Credential 1
# Expect: ok
# Stdin: User01
# Stdin: P@sSwOrd
$c = Get-Credential

# Example: Get-Credential 4
# Expect: ok
# Stdin: P@sSwOrd
$c = Get-Credential -credential User01
$c.Username

# Example: Get-Credential 7
# Expect: ok
$User = "Domain01\User01"
$PWord = ConvertTo-SecureString -String "P@sSwOrd" -AsPlainText -Force
$Credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList $User, $PWord

# Example: Get-Credential 8
# Expect: ok
# Stdin: P@sSwOrd
Get-Credential -Message "Credential are required for access to the \\Server1\Scripts file share." -User Server01\PowerUsers

# Example: Get-Credential syntax
# Expect: warning System.Security.SecureString
# Stdin: P@sSwOrd
$cred = Get-Credential -UserName alice@contoso.com -Message "The mailbox password"
$cred | Format-List UserName,Password
