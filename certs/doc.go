// Package certs is transportd's certificate store. It models what Exchange
// shows with Get-ExchangeCertificate and changes with New-, Import-, Enable-
// and Remove-ExchangeCertificate, and it chooses the certificate a receive
// connector serves for STARTTLS.
//
// # On-disk layout
//
// The store is one folder (created with mode 0700 when missing). Everything in
// it can be managed by hand:
//
//   - <THUMBPRINT>.pem — written by the store (NewSelfSigned, Import,
//     EnsureDefault): a short readable preamble, the leaf certificate, its
//     chain, then the private key as PKCS#8 "PRIVATE KEY". Mode 0600.
//     Written atomically and durably (temporary file, fsync, rename, folder
//     fsync) by the WriteFileFunc given to Open.
//   - services.json — a JSON object mapping a thumbprint to the services the
//     certificate is enabled for, its friendly name and whether its private
//     key may be exported (example below).
//   - <THUMBPRINT>.req — a pending certificate request (New-ExchangeCertificate
//     -GenerateRequest): the PKCS#10 request (RFC 2986) with PEM headers
//     Created, FriendlyName and PrivateKeyExportable, then its private key.
//     Mode 0600. The thumbprint is the SHA-1 of the request's DER. Import of
//     the CA's answer (PEM, DER or PKCS#7) finds the request whose key
//     matches, stores the certificate with that key as <THUMBPRINT>.pem and
//     deletes the .req file.
//
// An example services.json:
//
//	{
//	  "3D5A1C0B...": {"services": ["SMTP", "IIS"], "friendlyName": "Contoso 2025", "privateKeyExportable": true}
//	}
//
// Thumbprints in it are matched in any case, with spaces and colons ignored;
// service names are SMTP, IMAP, POP and IIS in any case. A certificate
// without an entry has no services ("None"), as after
// Import-ExchangeCertificate in Exchange, so automatic selection does not
// use it until it is enabled with Store.Enable or by editing the file (a
// connector's TlsCertificateName can still name it). If the file cannot be
// parsed, the error is logged and the last good mapping stays in force;
// Enable, Import and Remove refuse to overwrite a file they cannot parse.
//
// Files an administrator drops into the folder are picked up as well:
//
//   - *.pem, *.crt, *.cer — PEM (certificates and, optionally, a private key
//     in PKCS#1 "RSA PRIVATE KEY", PKCS#8 "PRIVATE KEY" or SEC 1 "EC PRIVATE
//     KEY" form, in any order) or, for .crt/.cer, a single DER certificate.
//     When the file holds no key, the key is read from the sidecar
//     <name>.key (for example mail.crt + mail.key). The leaf is the
//     certificate matching the key, or the first certificate when there is
//     no key; such a certificate is listed with HasPrivateKey false.
//   - *.pfx, *.p12 — PKCS#12 with an empty password, or with the password
//     in the sidecar <file>.password (for example mail.pfx +
//     mail.pfx.password; one trailing newline is ignored).
//
// Other files (*.key, *.password, services.json, names starting with a dot,
// anything else) are not read on their own. A file that cannot be read or
// parsed, or whose key does not match its certificate, is logged with the
// file name and the reason and skipped; it never stops the store. When two
// files hold the same certificate, the one with a private key wins, then
// <THUMBPRINT>.pem, then the first by name.
//
// Store.Watch reloads the folder whenever it changes (debounced by about
// 200ms), so certificates can be replaced without restarting; a tls.Config
// from Store.ServerTLSConfig picks the certificate on every handshake.
//
// # Durable writes
//
// The store does not write files itself: Open takes a WriteFileFunc, and
// the daemon and the management commands pass durable.WriteFile, the one
// implementation of "temporary file, fsync, rename, folder fsync" that the
// queue, the configuration and the mailboxes use too. Injecting it keeps
// certs free of any transport package (it sits below transport in the
// layout) without a second copy of that discipline to keep in step.
//
// # Certificate names
//
// A connector's TlsCertificateName is either "<I>issuer<S>subject" with the
// names as Exchange prints them (most specific first, "CN=mail.contoso.com,
// O=Contoso, C=US") or a thumbprint (40 hex digits; spaces and colons are
// ignored). Distinguished names compare equal regardless of case, of spaces
// around separators and of attribute aliases (S/ST, E/EMAILADDRESS).
package certs
