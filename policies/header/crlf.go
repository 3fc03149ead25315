package header

// ToCRLF returns b with every line ending, LF, CR or CRLF, as CRLF (RFC
// 5322 section 2.3: CR and LF only together), ending with CRLF when b is
// not empty.
func ToCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/16+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}
