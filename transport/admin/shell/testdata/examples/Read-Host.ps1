# Read-Host: Microsoft's examples (PowerShell 5.1 reference page). On a terminal the prompt is
# shown and -AsSecureString reads without echo; otherwise Read-Host reads the next line of
# standard input, which a "# Stdin:" line after "# Expect:" gives.

# Example: Read-Host 1
# Expect: ok
# Stdin: 42
$Age = Read-Host "Please enter your age"

# Example: Read-Host 2
# Expect: ok
# Stdin: P@ssw0rd1
$pwd_secure_string = Read-Host "Enter a Password" -AsSecureString

# Example: Read-Host syntax
# Expect: warning System.Security.SecureString
# Stdin: P@ssw0rd1
$pw = Read-Host -Prompt "Password" -AsSecureString
$pw
