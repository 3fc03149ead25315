# Export-ExchangeCertificate: Microsoft's examples 2 and 4, which write the file with .NET's
# [System.IO.File]::WriteAllBytes and [System.Text.Encoding]::Unicode.GetBytes. They parse only once
# the shell has .NET static calls; kept apart so the other examples run meanwhile.

# Example: Export-ExchangeCertificate 2
# Expect: missing 5113ae0233a72fccb75b1d0198628675333d010e
# Stdin: administrator
# Stdin: P@ssw0rd1
$bincert = Export-ExchangeCertificate -Thumbprint 5113ae0233a72fccb75b1d0198628675333d010e -BinaryEncoded -Password (Get-Credential).password

[System.IO.File]::WriteAllBytes('C:\Data\HT cert.pfx', $bincert.FileData)

# Example: Export-ExchangeCertificate 4
# Expect: missing Mailbox01
$txtcert = Export-ExchangeCertificate -Thumbprint 72570529B260E556349F3403F5CF5819D19B3B58 -Server Mailbox01

[System.IO.File]::WriteAllBytes('\\FileServer01\Data\Fabrikam.req', [System.Text.Encoding]::Unicode.GetBytes($txtcert))

