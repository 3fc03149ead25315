package shell

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the few .NET pieces Microsoft's certificate examples
// use: [System.IO.File]::ReadAllBytes/WriteAllBytes, [Byte[]] casts of
// Get-Content -Encoding Byte, [System.Text.Encoding]::Unicode.GetBytes
// and (Get-Date).AddHours(-1). Windows paths map to the data folder's
// files/ folder, as the certificate cmdlets do.

// Bytes is a byte array ([Byte[]]). A parameter receives it unchanged
// (Import-ExchangeCertificate -FileData).
type Bytes []byte

// String describes the array, as a table cell shows it.
func (b Bytes) String() string { return fmt.Sprintf("System.Byte[] (%d bytes)", len(b)) }

// textEncoding is [System.Text.Encoding]::Unicode, UTF8 or ASCII.
type textEncoding struct{ name string }

func (e *textEncoding) String() string { return "System.Text." + e.name + "Encoding" }

func (e *textEncoding) getBytes(s string) Bytes {
	switch e.name {
	case "Unicode":
		u := utf16.Encode([]rune(s))
		out := make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(out[2*i:], c)
		}
		return out
	case "ASCII":
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 127 {
				r = '?'
			}
			out = append(out, byte(r))
		}
		return out
	}
	return Bytes(s)
}

func (e *textEncoding) getString(b []byte) string {
	if e.name == "Unicode" {
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u))
	}
	return string(b)
}

// dateText is how a date becomes text for a parameter: the en-US form
// Microsoft's examples use ("03/13/2018 09:00:00").
const dateText = "01/02/2006 15:04:05"

// typeName drops the namespaces Microsoft's examples may or may not write.
func typeName(t string) string {
	t = strings.ToLower(t)
	for _, ns := range []string{"system.io.", "system.text.", "system."} {
		if strings.HasPrefix(t, ns) {
			return strings.TrimPrefix(t, ns)
		}
	}
	return t
}

// toBytes converts a value to a byte array, as [Byte[]] does. A string
// that is Base64 (Export-ExchangeCertificate -BinaryEncoded puts the DER
// or PKCS#12 file there as Base64) is decoded.
func toBytes(v any, base64Strings bool) (Bytes, error) {
	switch x := v.(type) {
	case Bytes:
		return x, nil
	case nil:
		return nil, errors.New("cannot convert $null to a byte array")
	case string:
		if base64Strings {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(x)); err == nil && len(x) > 0 {
				return b, nil
			}
		}
		return Bytes(x), nil
	case Number:
		if x.Val < 0 || x.Val > 255 || x.Val != float64(int(x.Val)) {
			return nil, fmt.Errorf("%s is not a byte (0 to 255)", x.Text)
		}
		return Bytes{byte(x.Val)}, nil
	case []any:
		var out Bytes
		for _, e := range x {
			b, err := toBytes(e, false)
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
		return out, nil
	}
	return Bytes(toString(v)), nil
}

// cast converts v to the type t names.
func cast(t string, v any) (any, error) {
	switch typeName(t) {
	case "byte[]":
		return toBytes(v, false)
	case "string":
		if b, ok := v.(Bytes); ok {
			return string(b), nil
		}
		return toString(v), nil
	case "int", "int32", "int64", "long", "double", "decimal":
		n, ok := parseNumber(strings.TrimSpace(toString(v)))
		if !ok {
			return nil, fmt.Errorf("cannot convert %q to [%s]", toString(v), t)
		}
		return n, nil
	case "bool", "boolean":
		return truthy(v), nil
	case "array", "object[]":
		return append([]any{}, flatten(v)...), nil
	}
	return nil, fmt.Errorf("type [%s] is not supported here: the shell knows [Byte[]], [string], [int], [bool] and [array]", t)
}

// static evaluates [Type]::Name or [Type]::Name(args).
func (sh *Shell) static(x *StaticCall, args []any) (any, error) {
	typ, name := typeName(x.Type), strings.ToLower(x.Name)
	nargs := func(n int) error {
		if len(args) != n || !x.Call {
			return fmt.Errorf("[%s]::%s takes %d argument(s)", x.Type, x.Name, n)
		}
		return nil
	}
	switch typ {
	case "file":
		switch name {
		case "readallbytes", "readalltext":
			if err := nargs(1); err != nil {
				return nil, err
			}
			b, err := sh.Manager.ReadLocalFile(toString(args[0]))
			if err != nil {
				return nil, err
			}
			if name == "readalltext" {
				return string(b), nil
			}
			return Bytes(b), nil
		case "writeallbytes", "writealltext":
			if err := nargs(2); err != nil {
				return nil, err
			}
			var data []byte
			if name == "writeallbytes" {
				b, err := toBytes(args[1], true)
				if err != nil {
					return nil, fmt.Errorf("[%s]::%s: %w", x.Type, x.Name, err)
				}
				data = b
			} else {
				data = []byte(toString(args[1]))
			}
			_, err := sh.Manager.WriteLocalFile(fmt.Sprintf("[%s]::%s", x.Type, x.Name), toString(args[0]), data)
			return nil, err
		case "exists":
			if err := nargs(1); err != nil {
				return nil, err
			}
			_, err := sh.Manager.ReadLocalFile(toString(args[0]))
			return err == nil, nil
		}
	case "encoding":
		for _, e := range []string{"Unicode", "UTF8", "ASCII"} {
			if strings.EqualFold(name, e) && !x.Call {
				return &textEncoding{name: e}, nil
			}
		}
	case "datetime":
		switch name {
		case "now":
			return time.Now(), nil
		case "utcnow":
			return time.Now().UTC(), nil
		case "today":
			y, m, d := time.Now().Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.Local), nil
		}
	}
	return nil, fmt.Errorf("[%s]::%s is not supported here: the shell knows [System.IO.File]::ReadAllBytes, WriteAllBytes, ReadAllText, WriteAllText and Exists, [System.Text.Encoding]::Unicode, UTF8 and ASCII (with .GetBytes and .GetString), and [DateTime]::Now, UtcNow and Today", x.Type, x.Name)
}

// method evaluates v.Name(args).
func method(v any, name string, args []any) (any, error) {
	lname := strings.ToLower(name)
	num := func() (float64, error) {
		if len(args) != 1 {
			return 0, fmt.Errorf(".%s() takes one number", name)
		}
		n, ok := parseNumber(toString(args[0]))
		if !ok {
			return 0, fmt.Errorf(".%s(%s): not a number", name, toString(args[0]))
		}
		return n.Val, nil
	}
	switch x := v.(type) {
	case time.Time:
		var unit time.Duration
		switch lname {
		case "addhours":
			unit = time.Hour
		case "addminutes":
			unit = time.Minute
		case "addseconds":
			unit = time.Second
		case "adddays":
			unit = 24 * time.Hour
		case "tostring":
			return x.Format(dateText), nil
		case "touniversaltime":
			return x.UTC(), nil
		case "tolocaltime":
			return x.Local(), nil
		}
		if unit != 0 {
			n, err := num()
			if err != nil {
				return nil, err
			}
			return x.Add(time.Duration(n * float64(unit))), nil
		}
	case *textEncoding:
		if len(args) == 1 {
			switch lname {
			case "getbytes":
				if b, ok := args[0].(Bytes); ok {
					return x.getBytes(string(b)), nil
				}
				return x.getBytes(toString(args[0])), nil
			case "getstring":
				b, err := toBytes(args[0], false)
				if err != nil {
					return nil, err
				}
				return x.getString(b), nil
			}
		}
	case string:
		switch lname {
		case "toupper":
			return strings.ToUpper(x), nil
		case "tolower":
			return strings.ToLower(x), nil
		case "trim":
			return strings.TrimSpace(x), nil
		case "tostring":
			return x, nil
		}
	}
	return nil, fmt.Errorf("the method .%s() of %s is not supported here", name, describeType(v))
}

func describeType(v any) string {
	switch v.(type) {
	case time.Time:
		return "a date"
	case string:
		return "a string"
	case Bytes:
		return "a byte array"
	case *textEncoding:
		return "an encoding"
	case nil:
		return "$null"
	}
	return display(v)
}

// getContent is Get-Content: the lines of a file, the whole text with
// -Raw, or its bytes with -Encoding Byte or -AsByteStream.
func (sh *Shell) getContent(c *call) ([]any, error) {
	path, ok := c.text("Path")
	if !ok {
		if path, ok = c.text("LiteralPath"); !ok {
			return nil, errors.New("-Path is required: the file to read")
		}
	}
	data, err := sh.Manager.ReadLocalFile(path)
	if err != nil {
		return nil, err
	}
	enc, _ := c.text("Encoding")
	if strings.EqualFold(enc, "Byte") || c.has("AsByteStream") {
		return []any{Bytes(data)}, nil
	}
	if !utf8.Valid(data) && !strings.EqualFold(enc, "") {
		return nil, fmt.Errorf("-Encoding %s: only Byte, UTF8 and ASCII are read here", enc)
	}
	text := string(data)
	if c.has("Raw") {
		return []any{text}, nil
	}
	text = strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out []any
	for _, l := range strings.Split(text, "\n") {
		out = append(out, l)
	}
	return out, nil
}

func dotnetCmdlets() []*cmdlet {
	return []*cmdlet{
		{name: "Get-Content", aliases: []string{"gc", "cat", "type"}, synopsis: "Reads a file: its lines, the whole text (-Raw) or its bytes (-Encoding Byte, -AsByteStream). A Windows path is read from the data folder's files/ folder.",
			params: params(val("Path", "the file; a Windows path (C:\\...) is looked up in the data folder's files/"), val("LiteralPath", "the same as -Path"),
				val("Encoding", "Byte for a byte array; UTF8 or ASCII for text"), sw("AsByteStream", "a byte array"),
				val("ReadCount", "accepted for scripts: the bytes or lines come as one array"), sw("Raw", "the whole text as one string")),
			positional: []string{"Path"},
			run:        func(sh *Shell, c *call) ([]any, error) { return sh.getContent(c) }},
		{name: "Get-Date", synopsis: "Returns the current date and time (a value with .AddHours(), .AddDays() ...).",
			params: params(val("Date", "accepted for scripts"), val("Format", "accepted for scripts")),
			run:    func(sh *Shell, c *call) ([]any, error) { return []any{time.Now()}, nil }},
	}
}
