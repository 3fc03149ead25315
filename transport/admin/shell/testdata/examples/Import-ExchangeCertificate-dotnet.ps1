# Import-ExchangeCertificate: Microsoft's example 2, which reads the file with
# [Byte[]](Get-Content -Encoding Byte -ReadCount 0). It parses only once the shell has type casts and
# Get-Content; kept apart so the other examples run meanwhile.

# Example: Import-ExchangeCertificate 2
# Expect: missing C:\Certificates\Fabrikam IssuedCert.p7b
Import-ExchangeCertificate -FileData ([Byte[]](Get-Content -Path "C:\Certificates\Fabrikam IssuedCert.p7b" -Encoding byte -ReadCount 0))

